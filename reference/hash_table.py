"""A stand-in for Monolith's embedding hash tables: fid -> ``EntryDump``.

Only what the slot-count listener needs: a device, an ``assign`` op that inserts or
overwrites entries by id, and a ``dump`` read that yields every entry once, in insertion
order. An entry serializes as ``monolith.hash_table.EntryDump`` (id as sfixed64, the
embedding in ``num``).

The session holds a table's entries as an immutable :class:`TableState`: the ids in one
read-only int64 numpy array (insertion order, unique), entries without an explicit embedding
standing for ``dim`` zeros, explicit embeddings kept per position, and the table's slot
histogram (entries per v2 slot), updated at every assign with the ids it adds. ``dump``
yields a :class:`TableDump` that exposes the id array directly (cheap, whatever the size),
counts slots from the histogram, and builds the serialized entries only when asked
(:meth:`TableDump.serialized`).
"""

from __future__ import annotations

import contextlib
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from reference.fast_slots import (
    COMPILED_MIN,
    compiled_merge,
    padded,
    slot_histogram,
    usable_cpus,
)
from reference.protos.embedding_hash_table_pb2 import EntryDump
from reference.runtime.graph import Graph, Op, Placeholder, Read, Store, Variable

HASH_TABLE_COLLECTION = "monolith_hash_tables"
MULTI_HASH_TABLE_COLLECTION = "monolith_multi_hash_tables"

_ID_TAG = 0x09  # EntryDump.id: field 1, fixed64
_NUM_TAG = 0x15  # EntryDump.num: field 2, fixed32 (unpacked, proto2)


_EMPTY_IDS = np.zeros(0, dtype=np.int64)
_EMPTY_IDS.flags.writeable = False

#: Ids per chunk of the passes that build or scan a whole array piece by piece (512 KB).
CHUNK = 1 << 16
#: From this many ids on, when two CPUs are usable and a sample of the ids holds a repeated
#: id, the two sorts of a dedup run at once, in two threads (numpy's sort releases the GIL).
PARALLEL_SORT_MIN = 1 << 18
#: Ids in that sample (a strided one: every ``n // SAMPLE``-th id).
SAMPLE = 1 << 14
#: Odd, so ``id * _HASH`` (mod 2**64) is a bijection; its high bits mix all the id's bits.
_HASH = np.uint64(0x9E3779B97F4A7C15)
#: Hash buckets (by the top 16 bits of the hash) in which shared hashes are looked for.
_BUCKET_SHIFT = np.uint64(48)
#: A new id buffer has room for ``1/_GROWTH`` more ids than it holds, so appends copy the
#: table's ids once every ``len/_GROWTH`` new ids at most (amortized O(k) per assign).
_GROWTH = 8


def to_int64(fid: int) -> int:
    """A 64-bit fid as the signed value an sfixed64 field holds."""
    fid &= (1 << 64) - 1
    return fid - (1 << 64) if fid >= 1 << 63 else fid


def _int64_array(ids: np.ndarray, copy: bool) -> np.ndarray:
    """An integer array as wrapped (two's-complement) native int64, read-only."""
    if ids.dtype.kind not in "iu" or ids.dtype == np.bool_:
        raise TypeError(f"fids must be integers, got dtype {ids.dtype}")
    ids = ids.reshape(-1)
    if ids.dtype.itemsize == 8 and ids.dtype.isnative and ids.flags.c_contiguous:
        out = ids.view(np.int64)
        if copy or out.flags.writeable:
            out = out.copy()
    else:
        out = ids.astype(np.int64)  # unsafe cast: uint64 wraps, smaller ints sign-extend
    out.flags.writeable = False
    return out


def _zero_entries(ids: np.ndarray, dim: int) -> bytes:
    """Serialized ``EntryDump(id=i, num=[0.0] * dim)`` for every id, back to back."""
    width = 9 + 5 * dim
    buf = np.zeros((len(ids), width), dtype=np.uint8)
    buf[:, 0] = _ID_TAG
    buf[:, 1:9] = ids.astype("<i8").view(np.uint8).reshape(-1, 8)
    if dim:
        buf[:, 9::5] = _NUM_TAG
    return buf.tobytes()


class _IdBuffer:
    """The storage behind the id arrays of the snapshots whose ids are its prefixes.

    ``array[:used]`` holds the ids of the longest of them. An assign to that snapshot writes
    its new ids after them, in place, and publishes a longer prefix; an assign to any other
    snapshot (an older one, or a branch: a restored state) copies the ids into a new buffer.
    A published prefix is never written again, so every snapshot's ids stay as they were.
    """

    __slots__ = ("array", "used")

    def __init__(self, array: np.ndarray, used: int) -> None:
        self.array = array
        self.used = used


_append_lock = threading.Lock()


class _SortedBuffer:
    """The storage behind the sorted copy of one snapshot, its *holder*, with room after it.

    An assign to the holder merges its new ids into the array in place (no new memory, one
    pass over the ids above the smallest new one) and hands the buffer to the snapshot it
    makes; the old holder's sorted copy is dropped then, and sorted again from its ids if
    that snapshot is ever assigned to again (a branch: a restored state). ``lock`` guards
    the hand-over and every read of the holder's copy, so the copy is never read while it
    is being merged into.
    """

    __slots__ = ("array", "holder", "lock")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.holder: TableState | None = None
        self.lock = threading.Lock()


class TableState:
    """One immutable snapshot of a table's entries (shared, never mutated in place).

    Its entries never change; the sorted copy of its ids that it may keep (for the next
    assign's merge) is a cache, which that assign can take over (:class:`_SortedBuffer`).
    """

    __slots__ = (
        "_counts",
        "_override_bytes",
        "_sorted",
        "buffer",
        "dim",
        "ids",
        "overrides",
        "sorted_buffer",
    )

    def __init__(
        self,
        ids: np.ndarray,
        dim: int,
        overrides: dict[int, list[Any]] | None = None,
        sorted_ids: np.ndarray | None = None,
        counts: np.ndarray | None = None,
        buffer: _IdBuffer | None = None,
        sorted_buffer: _SortedBuffer | None = None,
    ) -> None:
        self.ids = ids  # read-only int64, unique, insertion order
        self.dim = max(int(dim), 0)  # length of the zero embedding of entries not overridden
        self.overrides = overrides or {}  # position -> explicit embedding (a list)
        self._sorted = sorted_ids  # ``ids`` sorted, once an assign made it (1x the ids)
        self._counts = counts  # the slot histogram of ``ids`` (read-only), or None until asked
        self.buffer = buffer  # where ``ids`` lives when later assigns may append in place
        self.sorted_buffer = sorted_buffer  # where ``_sorted`` lives, while this one holds it
        if sorted_buffer is not None:
            with sorted_buffer.lock:
                sorted_buffer.holder = self
        self._override_bytes: dict[int, bytes] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> TableState:
        return self  # immutable: the variable store's copies can share it

    def __len__(self) -> int:
        return len(self.ids)

    def sorted_ids(self) -> np.ndarray:
        """``ids`` sorted; computed when missing but not kept, so a long-lived snapshot (a
        table's initial one) does not carry the extra array. A copy when the snapshot's own
        lives in a :class:`_SortedBuffer`, which a later assign merges into in place."""
        if self.sorted_buffer is None:
            return self._sorted if self._sorted is not None else np.sort(self.ids)
        with self.sorted_buffer.lock:
            out = self._sorted.copy() if self._sorted is not None else np.sort(self.ids)
        out.flags.writeable = False
        return out

    def keeps_sorted_ids(self) -> bool:
        """Whether the snapshot holds a sorted copy of its ids (not dropped, not to be
        computed)."""
        return self._sorted is not None

    def slot_counts(self) -> np.ndarray:
        """Entries per 15-bit v2 slot (:func:`reference.fast_slots.slot_histogram` of ``ids``),
        read-only. Assigns keep it up to date; a table built by :meth:`HashTable.from_ids`
        counts it on first use."""
        if self._counts is None:
            counts = slot_histogram(self.ids)
            counts.flags.writeable = False
            self._counts = counts
        return self._counts

    def positions_of(self, sorted_query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For sorted unique ``sorted_query``: ``(found, position in ids)`` of each (the
        position is meaningful only where found). One pass over ``ids``; used only when
        explicit embeddings or a zero-length change need the positions of present ids."""
        q = len(sorted_query)
        found = np.zeros(q, dtype=bool)
        positions = np.zeros(q, dtype=np.int64)
        if q == 0 or len(self.ids) == 0:
            return found, positions
        at = np.searchsorted(sorted_query, self.ids)
        np.minimum(at, q - 1, out=at)
        hit = np.flatnonzero(sorted_query[at] == self.ids)
        found[at[hit]] = True
        positions[at[hit]] = hit
        return found, positions

    def override_bytes(self) -> dict[int, bytes]:
        """Serialized entries of the explicit embeddings, built in insertion order.

        Building them is where a bad embedding value raises protobuf's error, at dump time
        as in a dump that serializes every entry.
        """
        if self._override_bytes is None:
            out = {}
            for pos in sorted(self.overrides):
                out[pos] = EntryDump(
                    id=int(self.ids[pos]), num=self.overrides[pos]
                ).SerializeToString()
            self._override_bytes = out
        return self._override_bytes


class TableDump(Sequence[bytes]):
    """What ``session.run(table.dump())`` yields: the entries of one snapshot.

    ``ids`` is the int64 id array (insertion order, unique, read-only); :meth:`serialized`
    builds the list of serialized ``EntryDump`` bytes on first use. As a sequence it is that
    list, so code written for a list of bytes keeps working.
    """

    def __init__(self, state: TableState) -> None:
        self._state = state
        self._serialized: list[bytes] | None = None
        state.override_bytes()  # raises here, at dump time, for a bad explicit embedding

    @property
    def ids(self) -> np.ndarray:
        return self._state.ids

    @property
    def sorted_ids(self) -> np.ndarray | None:
        """``ids`` sorted ascending (a copy, read-only) when the snapshot keeps that copy
        (after an assign, until a later one takes it over), else ``None``."""
        state = self._state
        return state.sorted_ids() if state.keeps_sorted_ids() else None

    def slot_counts(self) -> np.ndarray:
        """Entries per v2 slot, clamped to ``MAX_SLOT - 1``: a fresh ``MAX_SLOT``-long int64
        vector, from the histogram the table keeps (no pass over the ids)."""
        return padded(self._state.slot_counts())

    def serialized(self) -> list[bytes]:
        if self._serialized is None:
            state = self._state
            width = 9 + 5 * state.dim
            data = _zero_entries(state.ids, state.dim)
            entries = [data[i : i + width] for i in range(0, len(data), width)]
            for pos, raw in state.override_bytes().items():
                entries[pos] = raw
            self._serialized = entries
        return self._serialized

    def __len__(self) -> int:
        return len(self._state.ids)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        return self.serialized()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.serialized())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TableDump):
            return self.serialized() == other.serialized()
        if isinstance(other, (list, tuple)):
            return self.serialized() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TableDump({len(self)} entries)"


class HashTable:
    """Entries keyed by fid; the value store lives in the session like a variable."""

    def __init__(self, name: str, dim: int = 1, device: str = "", graph: Graph | None = None):
        self.name = name
        self.dim = dim
        self.device = device
        # The empty snapshot's dim is unused: the first assign sets it from ``self.dim``.
        self._var = Variable(f"{name}/entries", TableState(_EMPTY_IDS, 0), local=False)
        if graph is not None:
            graph.add_to_collection(HASH_TABLE_COLLECTION, self)

    @classmethod
    def from_ids(
        cls,
        name: str,
        ids: np.ndarray,
        dim: int = 1,
        device: str = "",
        graph: Graph | None = None,
        *,
        assume_unique: bool = False,
    ) -> HashTable:
        """A table whose initial entries are ``ids`` with zero embeddings, built in numpy.

        The same entries as ``assign(ids)`` on an empty table (duplicates keep their first
        position; ids wrap to int64 like :func:`to_int64`), without a Python int per fid. A
        read-only native int64 (or uint64) array is used in place; anything else is copied.
        ``assume_unique=True`` skips the duplicate check (the caller guarantees it).
        """
        table = cls(name, dim, device, graph)
        dim = operator.index(dim)
        arr = _int64_array(np.asarray(ids), copy=False)
        if not assume_unique and len(arr):
            arr = _first_occurrences(arr)[0]
            arr.flags.writeable = False
        table._var.initial = TableState(arr, dim)
        return table

    def assign(
        self, fids: Iterable[int], embeddings: Iterable[Iterable[float]] | None = None
    ) -> Op:
        """Insert or overwrite ``fids`` (zero embeddings unless given).

        A 1-D numpy integer array is taken in bulk (wrapped to int64); any other iterable is
        converted fid by fid with :func:`to_int64`.
        """
        if isinstance(fids, np.ndarray) and fids.ndim == 1 and fids.dtype.kind in "iu":
            new_ids = _int64_array(fids, copy=True)
        else:
            new_ids = np.array([to_int64(f) for f in fids], dtype=np.int64).reshape(-1)
        values = [list(e) for e in embeddings] if embeddings is not None else None

        def run(store: Store, feed: Mapping[Placeholder, Any]) -> None:
            state: TableState = store.read(self._var)
            if values is not None and len(values) < len(new_ids):
                raise IndexError("list index out of range")
            if values is None and len(new_ids):
                _ = [0.0] * self.dim  # a non-integer dim raises TypeError here, as before
            store.write(self._var, _merge(state, new_ids, values, self.dim))

        return Op(f"{self.name}/assign", run)

    def dump(self) -> Read:
        """Every entry once, in insertion order, as a :class:`TableDump`."""

        def read(store: Store) -> TableDump:
            return TableDump(store.read(self._var))

        return Read(f"{self.name}/dump", read)


def _first_occurrences(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unique ids in first-occurrence order, the same ids sorted)`` of an int64 array.

    One sort of the ids (no argsort: numpy's is several times slower than its sort) gives
    the sorted unique ids; when there are no duplicates that is all. Otherwise a second sort,
    of ``(hash of the id, position)`` keys, brings the occurrences of each id together in
    position order, so the first of each group is the first occurrence
    (:func:`_first_positions`). Both are sorts of the whole array; nothing searches the
    unsorted ids. When a sample shows repeated ids and two CPUs are usable, both sorts run at
    once. Peak memory: the ids, their sorted copy and the keys (3x the ids), plus bit masks.
    """
    n = len(ids)
    if n < 2:
        return ids, np.sort(ids)
    keys = None
    if n >= PARALLEL_SORT_MIN and usable_cpus() >= 2 and _sample_repeats(ids):
        sorted_ids = _in_thread(np.sort, ids)
        try:
            keys = _sorted_keys(ids)
        finally:
            s = sorted_ids()
    else:
        s = np.sort(ids)
    starts = np.empty(n, dtype=bool)  # the first of each run of equal values
    starts[0] = True
    np.not_equal(s[1:], s[:-1], out=starts[1:])
    m = int(np.count_nonzero(starts))
    if m == n:
        return ids, s
    _compact(s, starts)  # s[:m]: the distinct ids
    del starts
    if keys is None:
        keys = _sorted_keys(ids)
    keep = _first_positions(ids, keys, s[:m])
    del keys
    uniq = s[:m].copy()
    del s
    return _compressed(keep, ids, m), uniq


def _sample_repeats(ids: np.ndarray) -> bool:
    """Whether every ``len(ids) // SAMPLE``-th id holds a repeated value."""
    sample = np.sort(ids[:: max(1, len(ids) // SAMPLE)])
    return bool(np.any(sample[1:] == sample[:-1]))


def _in_thread(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Start ``fn(*args)`` in a thread; the returned function waits for its result (or
    raises its exception)."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            out.append(fn(*args))
        except BaseException as e:  # pragma: no cover - re-raised by wait
            errors.append(e)

    thread = threading.Thread(target=work)
    thread.start()

    def wait() -> Any:
        thread.join()
        if errors:  # pragma: no cover
            raise errors[0]
        return out[0]

    return wait


def _position_bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _sorted_keys(ids: np.ndarray) -> np.ndarray:
    """``(id * _HASH)`` with its low bits replaced by the id's position, for every position,
    sorted (uint64)."""
    n = len(ids)
    low = np.uint64((1 << _position_bits(n)) - 1)
    u = ids.view(np.uint64)
    keys = np.empty(n, dtype=np.uint64)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        k = keys[lo:hi]
        np.multiply(u[lo:hi], _HASH, out=k)
        np.bitwise_and(k, ~low, out=k)
        np.bitwise_or(k, np.arange(lo, hi, dtype=np.uint64), out=k)
    keys.sort()
    return keys


def _compact(s: np.ndarray, starts: np.ndarray) -> None:
    """Move the elements of ``s`` where ``starts`` is set to its front, in order."""
    tmp = np.empty(min(len(s), CHUNK), dtype=s.dtype)
    w = 0
    for lo in range(0, len(s), CHUNK):
        c = int(np.count_nonzero(starts[lo : lo + CHUNK]))
        np.compress(starts[lo : lo + CHUNK], s[lo : lo + CHUNK], out=tmp[:c])
        s[w : w + c] = tmp[:c]
        w += c


def _compressed(mask: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """``values[mask]`` (``count`` of them), chunk by chunk: no index array the size of the
    input, and no branch per element (numpy's boolean index is slow on irregular masks)."""
    out = np.empty(count, dtype=values.dtype)
    w = 0
    for lo in range(0, len(values), CHUNK):
        c = int(np.count_nonzero(mask[lo : lo + CHUNK]))
        np.compress(mask[lo : lo + CHUNK], values[lo : lo + CHUNK], out=out[w : w + c])
        w += c
    return out


def _first_positions(ids: np.ndarray, keys: np.ndarray, uniq: np.ndarray) -> np.ndarray:
    """A boolean mask of the first occurrence of each value of ``ids``.

    ``keys`` (from :func:`_sorted_keys`) form one group per hash, holding the positions of
    every id with that hash in ascending order: the first of a group is the first occurrence
    of its id. Two distinct ids (of ``uniq``, the distinct ids) whose hashes agree in the
    high bits share a group; only the groups of such shared hashes are resolved id by id
    (:func:`_shared_hashes` finds them, :func:`_split_shared` resolves them).
    """
    n = len(ids)
    b = _position_bits(n)
    low = np.uint64((1 << b) - 1)
    keep = np.zeros(n, dtype=bool)
    groups = np.zeros(1 << 16, dtype=np.int64)  # group starts per hash bucket
    step = np.empty(min(n, CHUNK), dtype=np.uint64)
    starts = np.empty(min(n, CHUNK), dtype=bool)
    for lo in range(0, n, CHUNK):
        k = keys[lo : lo + CHUNK]
        d, start = step[: len(k)], starts[: len(k)]
        np.bitwise_xor(k[1:], k[:-1], out=d[1:])
        d[0] = k[0] ^ keys[lo - 1] if lo else ~np.uint64(0)
        np.greater(d, low, out=start)
        firsts = np.compress(start, k)  # the keys whose hash differs from the one before
        bucket = (firsts >> _BUCKET_SHIFT).view(np.int64)
        if len(bucket):  # the keys are sorted: this chunk's buckets are a narrow range
            groups[bucket[0] : bucket[-1] + 1] += np.bincount(bucket - bucket[0])
        np.bitwise_and(firsts, low, out=firsts)
        keep[firsts.view(np.int64)] = True
    if groups.sum() < len(uniq):
        _split_shared(ids, keys, keep, _shared_hashes(uniq, groups, b), b)
    return keep


def _split_shared(
    ids: np.ndarray, keys: np.ndarray, keep: np.ndarray, shared: np.ndarray, b: int
) -> None:
    """Mark in ``keep`` the first occurrence of each id in the key groups of the ``shared``
    hashes (each group holds the positions of two or more distinct ids)."""
    low = np.uint64((1 << b) - 1)
    for h in (shared << np.uint64(b)).tolist():
        group = keys[
            np.searchsorted(keys, np.uint64(h)) : np.searchsorted(
                keys, np.uint64(h) | low, side="right"
            )
        ]
        positions = (group & low).view(np.int64)
        # The positions of one id all lie in its group, ascending: its first comes first.
        _, first = np.unique(ids[positions], return_index=True)
        keep[positions[first]] = True


def _shared_hashes(uniq: np.ndarray, groups: np.ndarray, b: int) -> np.ndarray:
    """The hashes (``(id * _HASH) >> b``) of two or more of the distinct ids ``uniq``.

    In a bucket of hashes (their top 16 bits) the distinct ids map onto the key groups, so
    the bucket holds a shared hash exactly when it has fewer groups (``groups``) than ids.
    Only the ids of those buckets are hashed again and sorted.
    """
    u = uniq.view(np.uint64)
    chunk = CHUNK * 16  # a bincount per chunk: fewer, larger chunks
    per_bucket = np.zeros(1 << 16, dtype=np.int64)
    for lo in range(0, len(u), chunk):
        h = u[lo : lo + chunk] * _HASH
        per_bucket += np.bincount((h >> _BUCKET_SHIFT).view(np.int64), minlength=1 << 16)
    crowded = per_bucket > groups
    found = []
    for lo in range(0, len(u), chunk):
        h = u[lo : lo + chunk] * _HASH
        found.append(h[crowded[(h >> _BUCKET_SHIFT).view(np.int64)]] >> np.uint64(b))
    hashes = np.sort(np.concatenate(found))
    return np.unique(hashes[1:][hashes[1:] == hashes[:-1]])


def _union(old_sorted: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(found, merged)`` for the sorted distinct ids ``query``: which of them the sorted
    ``old_sorted`` holds, and the sorted union of both (``old_sorted`` itself when nothing is
    new), in a new array: a binary search per query id (O(k log n)) and ``np.insert`` of the
    new ones. The path without numba, and for tables under ``COMPILED_MIN`` ids."""
    n, k = len(old_sorted), len(query)
    if n == 0:
        return np.zeros(k, dtype=bool), query
    at = np.searchsorted(old_sorted, query)
    found = old_sorted[np.minimum(at, n - 1)] == query
    if found.all():
        return found, old_sorted
    return found, np.insert(old_sorted, at[~found], query[~found])


def _sorted_union(
    state: TableState, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray, _SortedBuffer | None]:
    """``(found, sorted ids, buffer)`` of an assign of the sorted distinct ids ``query`` to
    ``state``: which of them ``state`` holds, its sorted ids with the new ones merged in
    (read-only), and the :class:`_SortedBuffer` they live in (``None``: an array of their
    own, never written again).

    With numba, from ``COMPILED_MIN`` ids, the compiled merge
    (:func:`reference.fast_slots.compiled_merge`) works in a buffer: in place in the one
    ``state`` holds when there is room (the common case, assign after assign), else in a
    new one with room to grow (:data:`_GROWTH`) that ``state``'s sorted ids are copied into
    first. Without, :func:`_union`."""
    n, k = len(state.ids), len(query)
    merge = compiled_merge() if n >= COMPILED_MIN else None
    if merge is None:
        found, merged = _union(state.sorted_ids(), query)
        if merged.flags.writeable:
            merged.flags.writeable = False
        return found, merged, None
    held = state.sorted_buffer
    with held.lock if held is not None else contextlib.nullcontext():
        if held is not None and held.holder is state and len(held.array) >= n + k:
            held.holder = None  # now the assign's alone; the new snapshot takes it
            state._sorted = None
            buffer = held
        else:
            buffer = _SortedBuffer(np.empty(n + k + (n + k) // _GROWTH, dtype=np.int64))
            if state._sorted is not None:
                buffer.array[:n] = state._sorted
            else:  # never kept, or handed on: sort the ids where the copy goes
                buffer.array[:n] = state.ids
                buffer.array[:n].sort()
    found = np.zeros(k, dtype=bool)
    merged = buffer.array[: merge(buffer.array, n, query, found)]
    merged.flags.writeable = False
    return found, merged, buffer


def _appended(state: TableState, added: np.ndarray) -> tuple[np.ndarray, _IdBuffer | None]:
    """``(ids, buffer)`` of ``state``'s ids followed by ``added``: written in place after them
    when ``state`` is its buffer's longest snapshot and there is room, else copied into a new
    buffer with room to grow (:data:`_GROWTH`; amortized O(len(added)))."""
    n, k = len(state.ids), len(added)
    if k == 0:
        return state.ids, state.buffer
    if n == 0:  # the first ids: exactly the array the assign made, no spare room
        if added.flags.writeable:
            added.flags.writeable = False
        return added, None
    buffer = state.buffer
    with _append_lock:
        if buffer is not None and buffer.used == n and len(buffer.array) >= n + k:
            buffer.array[n : n + k] = added
            buffer.used = n + k
        else:
            buffer = None
    if buffer is None:
        array = np.empty(n + k + (n + k) // _GROWTH, dtype=np.int64)
        array[:n] = state.ids
        array[n : n + k] = added
        buffer = _IdBuffer(array, n + k)
    ids = buffer.array[: n + k]
    ids.flags.writeable = False
    return ids, buffer


def _counted(state: TableState, added: np.ndarray) -> np.ndarray:
    """``state``'s slot histogram with the ids ``added`` counted in (read-only)."""
    if len(added) == 0:
        return state.slot_counts()
    counts = slot_histogram(added)
    counts += state.slot_counts()
    counts.flags.writeable = False
    return counts


def _merge(
    state: TableState, new_ids: np.ndarray, values: list[list[Any]] | None, dim: int
) -> TableState:
    """``state`` with ``new_ids`` inserted or overwritten, in order (the last write wins)."""
    k = len(new_ids)
    if k == 0:
        return state
    n = len(state.ids)
    if n:
        new_dim = state.dim
    else:  # the first entries set the snapshot's zero-embedding length
        try:
            new_dim = max(operator.index(dim), 0)
        except TypeError:  # only explicit embeddings so far: dim was never used
            new_dim = 0
    if values is not None or (max(dim, 0) != new_dim):
        return _merge_with_embeddings(state, new_ids, values, dim, new_dim)

    # Zero embeddings of the snapshot's length: only which ids are new, and where, matters.
    # O(k log k) for the assign's own ids, then one pass over the table's sorted ids to find
    # which are new and merge them in (with numba; else O(k log n) binary searches, then it).
    in_order, uniq = _first_occurrences(new_ids)
    found, sorted_ids, sorted_buffer = _sorted_union(state, uniq)
    appended = in_order[~found[np.searchsorted(uniq, in_order)]] if found.any() else in_order
    ids, buffer = _appended(state, appended)
    counts = _counted(state, appended)

    overrides = dict(state.overrides)
    if overrides:  # entries written again with zeros lose their explicit embedding
        keys = np.fromiter(overrides, dtype=np.int64, count=len(overrides))
        key_ids = state.ids[keys]
        at = np.minimum(np.searchsorted(uniq, key_ids), len(uniq) - 1)
        for p in keys[uniq[at] == key_ids].tolist():
            del overrides[p]
    return TableState(ids, new_dim, overrides, sorted_ids, counts, buffer, sorted_buffer)


def _merge_with_embeddings(
    state: TableState,
    new_ids: np.ndarray,
    values: list[list[Any]] | None,
    dim: int,
    new_dim: int,
) -> TableState:
    """The general merge: explicit embeddings (or zeros of another length) per entry."""
    k = len(new_ids)
    n = len(state.ids)
    # Unique ids of this assign; the first occurrence fixes where a new id goes, the last
    # one which embedding it gets.
    uniq, first = np.unique(new_ids, return_index=True)
    _, first_rev = np.unique(new_ids[::-1], return_index=True)
    last = k - 1 - first_rev
    found, positions = state.positions_of(uniq)
    added = np.flatnonzero(~found)
    added = added[np.argsort(first[added], kind="stable")]
    positions[added] = n + np.arange(len(added))
    appended = uniq[added]

    ids, buffer = _appended(state, appended)
    _, sorted_ids, sorted_buffer = _sorted_union(state, np.sort(appended))
    counts = _counted(state, appended)

    overrides = dict(state.overrides)
    if values is not None:
        for p, i in zip(positions.tolist(), last.tolist(), strict=True):
            overrides[p] = values[i]
    else:
        if overrides:
            keys = np.fromiter(overrides, dtype=np.int64, count=len(overrides))
            for p in keys[np.isin(keys, positions)].tolist():
                del overrides[p]
        # Zero embeddings of a length other than the snapshot's default: explicit.
        zeros = [0.0] * dim
        for p in positions.tolist():
            overrides[p] = list(zeros)
    return TableState(ids, new_dim, overrides, sorted_ids, counts, buffer, sorted_buffer)
