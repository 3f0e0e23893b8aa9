"""A stand-in for Monolith's embedding hash tables: fid -> ``EntryDump``.

Only what the slot-count listener needs: a device, an ``assign`` op that inserts or
overwrites entries by id, and a ``dump`` read that yields every entry once, in insertion
order. An entry serializes as ``monolith.hash_table.EntryDump`` (id as sfixed64, the
embedding in ``num``).

The session holds a table's entries as an immutable :class:`TableState`: the ids in one
read-only int64 numpy array (insertion order, unique), entries without an explicit embedding
standing for ``dim`` zeros, explicit embeddings kept per position. ``dump`` yields a
:class:`TableDump` that exposes the id array directly (cheap, whatever the size) and builds
the serialized entries only when asked (:meth:`TableDump.serialized`).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from reference.protos.embedding_hash_table_pb2 import EntryDump
from reference.runtime.graph import Graph, Op, Placeholder, Read, Store, Variable

HASH_TABLE_COLLECTION = "monolith_hash_tables"
MULTI_HASH_TABLE_COLLECTION = "monolith_multi_hash_tables"

_ID_TAG = 0x09  # EntryDump.id: field 1, fixed64
_NUM_TAG = 0x15  # EntryDump.num: field 2, fixed32 (unpacked, proto2)


_EMPTY_IDS = np.zeros(0, dtype=np.int64)
_EMPTY_IDS.flags.writeable = False


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


class TableState:
    """One immutable snapshot of a table's entries (shared, never mutated in place)."""

    __slots__ = ("_override_bytes", "_sorted", "dim", "ids", "overrides")

    def __init__(
        self,
        ids: np.ndarray,
        dim: int,
        overrides: dict[int, list[Any]] | None = None,
        sorted_ids: np.ndarray | None = None,
    ) -> None:
        self.ids = ids  # read-only int64, unique, insertion order
        self.dim = max(int(dim), 0)  # length of the zero embedding of entries not overridden
        self.overrides = overrides or {}  # position -> explicit embedding (a list)
        self._sorted = sorted_ids  # ``ids`` sorted, once an assign made it (1x the ids)
        self._override_bytes: dict[int, bytes] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> TableState:
        return self  # immutable: the variable store's copies can share it

    def __len__(self) -> int:
        return len(self.ids)

    def sorted_ids(self) -> np.ndarray:
        """``ids`` sorted; computed when missing but not kept, so a long-lived snapshot (a
        table's initial one) does not carry the extra array."""
        return self._sorted if self._sorted is not None else np.sort(self.ids)

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
        """``ids`` sorted ascending when the snapshot keeps that copy (after an assign), else
        ``None``."""
        return self._state._sorted

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

    One ``np.sort`` (no argsort: numpy's is several times slower than its sort). Only the
    duplicated values, if any, are located again (a binary search per id against the few
    duplicated values) and stably ordered to drop all but their first occurrence.
    """
    s = np.sort(ids)
    if len(s) < 2:
        return ids, s
    repeat = s[1:] == s[:-1]
    if not repeat.any():
        return ids, s
    uniq = s[np.concatenate(([True], ~repeat))]
    dups = np.unique(s[1:][repeat])
    del s, repeat
    at = np.searchsorted(dups, ids)
    np.minimum(at, len(dups) - 1, out=at)
    hit = np.flatnonzero(dups[at] == ids)  # every occurrence of a duplicated value
    del at
    order = np.argsort(ids[hit], kind="stable")
    hit_sorted = ids[hit][order]
    later = np.ones(len(hit), dtype=bool)  # not the first occurrence of its value
    later[0] = False
    later[1:] = hit_sorted[1:] == hit_sorted[:-1]
    keep = np.ones(len(ids), dtype=bool)
    keep[hit[order[later]]] = False
    return ids[keep], uniq


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
    in_order, uniq = _first_occurrences(new_ids)
    if n == 0:
        appended, sorted_ids = in_order, uniq
    else:
        old_sorted = state.sorted_ids()
        at = np.searchsorted(old_sorted, in_order)
        np.minimum(at, n - 1, out=at)
        appended = in_order[old_sorted[at] != in_order]
        del at
        new_sorted = np.sort(appended)
        sorted_ids = np.insert(old_sorted, np.searchsorted(old_sorted, new_sorted), new_sorted)
        del new_sorted
    ids = np.concatenate([state.ids, appended]) if n else appended
    if ids.flags.writeable:
        ids.flags.writeable = False
    sorted_ids.flags.writeable = False

    overrides = dict(state.overrides)
    if overrides:  # entries written again with zeros lose their explicit embedding
        keys = np.fromiter(overrides, dtype=np.int64, count=len(overrides))
        key_ids = state.ids[keys]
        at = np.minimum(np.searchsorted(uniq, key_ids), len(uniq) - 1)
        for p in keys[uniq[at] == key_ids].tolist():
            del overrides[p]
    return TableState(ids, new_dim, overrides, sorted_ids)


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

    ids = np.concatenate([state.ids, appended])
    ids.flags.writeable = False
    old_sorted = state.sorted_ids()
    new_sorted = np.sort(appended)
    sorted_ids = np.insert(old_sorted, np.searchsorted(old_sorted, new_sorted), new_sorted)
    sorted_ids.flags.writeable = False

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
    return TableState(ids, new_dim, overrides, sorted_ids)
