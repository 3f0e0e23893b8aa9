"""Vectorized slot counting for :mod:`reference.ckpt_info` and :mod:`reference.hash_table`.

The slot-count listener needs, per checkpoint, how many hash-table entries fall in each
v2 slot ``(fid >> 48) & 0x7FFF``, clamped to ``MAX_SLOT - 1``. The plain way parses every
serialized ``EntryDump`` and bumps a counter per fid; here the ids stay in one numpy array:
each chunk is shifted and masked into a small reusable buffer and ``np.bincount`` counts it.
Peak extra memory is a few chunk buffers (a few MB), whatever the input size.
:func:`slot_histogram` gives the 32768 per-slot counts (what a table keeps, updated with the
ids each assign adds); :func:`count_slots_from_ids` gives them as the listener's
``MAX_SLOT``-long vector.

With the optional ``fast`` extra (numba) installed, inputs of at least :data:`COMPILED_MIN`
native 64-bit ids are counted by one compiled loop per thread instead (shift, mask and
increment fused: one read of the ids, no chunk buffers). Counts are integers, so both paths
give identical results; ``compiled=False`` (or ``MONOLITH_PARITY_COMPILED=0`` in the
environment) forces the numpy path.

:func:`ids_from_entry_dumps` recovers the ids of serialized ``EntryDump`` messages: the
canonical layout protobuf's serializer gives a table entry (``09`` + 8-byte id, then only
``15`` + 4-byte floats) is decoded in bulk; anything else is parsed by protobuf, entry by
entry, so the result is exact for every valid message (and an invalid one raises protobuf's
own ``DecodeError``).
"""

from __future__ import annotations

import ctypes
import os
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from reference.protos.embedding_hash_table_pb2 import EntryDump

MAX_SLOT = 102400
SLOT_MASK = 0x7FFF
SLOT_SHIFT = 48
#: Buckets of a slot histogram: every 15-bit slot, none past it (``MAX_SLOT - 1``, the
#: original's clamp, is never reached: quirk slot-clamp-unreachable).
SLOTS = SLOT_MASK + 1

#: Elements per chunk: big enough to amortise the per-call overhead, small enough that the
#: chunk buffer (8 bytes per element) stays in cache.
CHUNK = 1 << 18
#: Inputs at least this long are split over threads (``np.bincount`` and the shift/mask
#: ufuncs release the GIL).
PARALLEL_THRESHOLD = 1 << 22
#: The compiled loop is used from this many ids on: below it the numpy path is fast enough,
#: and small tables (the scenario corpus) never pay numba's import and compile time.
COMPILED_MIN = 1 << 16
#: Ids per compiled call: keeps each call's counts far below overflow and bounds the time a
#: thread holds a slice.
COMPILED_SPAN = 1 << 28
#: Binary searches the compiled merge runs in lockstep (:func:`compiled_merge`).
SEARCH_GROUP = 16
#: Below this many table ids per query id, the compiled merge finds the query ids' places
#: by reading the table in order rather than by binary searches (measured: the read wins up
#: to about 400 ids apart, the searches from about 1000).
SCAN_GAP = 512

_ID_TAG = 0x09  # field 1, wire type 1 (fixed64)
_NUM_TAG = 0x15  # field 2, wire type 5 (fixed32), unpacked in proto2


def usable_cpus() -> int:
    """CPUs this process may run on (at most 8): how many threads a bulk pass uses."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


_compile_lock = threading.Lock()
#: [the compiled kernels] once built (a namespace: ``count``, ``merge`` and its two ways to
#: find places, ``find_scanning``, ``find_searching``), [None] when numba
#: is missing or disabled.
_compiled: list = []


def _kernels() -> Any:
    with _compile_lock:
        if not _compiled:
            _compiled.append(_build_kernels())
    return _compiled[0]


def compiled_kernel(required: bool = False) -> Any:
    """The numba slot-count kernel ``kernel(u, lo, hi) -> int64[SLOTS]``, built on first use;
    ``None`` when numba is not installed or ``MONOLITH_PARITY_COMPILED=0`` (``ImportError``
    instead when ``required``)."""
    kernels = _kernels()
    if kernels is None and required:
        raise ImportError(
            "the compiled slot counter needs numba: pip install 'monolith-hook-parity[fast]'"
        )
    return None if kernels is None else kernels.count


def compiled_merge() -> Any:
    """The numba kernel ``merge(buf, n, query, found) -> int``, built on first use (``None``
    as for :func:`compiled_kernel`). For sorted distinct int64 ``buf[:n]`` and ``query``
    (``buf`` with room for ``len(query)`` more) it merges ``query`` into ``buf`` in place,
    sets ``found[j]`` when ``buf[:n]`` holds ``query[j]`` and returns the union's length.

    It first finds where each query id goes. When they are close together (fewer than
    :data:`SCAN_GAP` table ids apart on average) it reads the table in order, as a copy
    does; else it runs :data:`SEARCH_GROUP` binary searches at a time, in lockstep, so
    that their reads of the table (far too big for the cache) are in flight together rather
    than one after the other. Then, from the end back, it moves each run of old ids right
    by the number of new ids below it (``memmove``) and puts the new id just before it: one
    pass over the ids above the smallest new one, in memory already in use.
    The hash table merges an assign's ids into its sorted copy with it."""
    kernels = _kernels()
    return None if kernels is None else kernels.merge


def _build_kernels() -> Any:
    if os.environ.get("MONOLITH_PARITY_COMPILED", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True, boundscheck=False, cache=False)
    def count_span(u: np.ndarray, lo: int, hi: int) -> np.ndarray:  # pragma: no cover - JIT
        # Four rows of counters, one per id of each group of four: neighbours in the same
        # slot (sorted or clustered ids) bump different rows, so an increment does not wait
        # for the store of the one before it.
        rows = np.zeros((4, SLOTS), dtype=np.int64)
        shift, mask = np.uint64(SLOT_SHIFT), np.uint64(SLOT_MASK)
        end = lo + (hi - lo) // 4 * 4
        for i in range(lo, end, 4):
            rows[0, (u[i] >> shift) & mask] += 1
            rows[1, (u[i + 1] >> shift) & mask] += 1
            rows[2, (u[i + 2] >> shift) & mask] += 1
            rows[3, (u[i + 3] >> shift) & mask] += 1
        for i in range(end, hi):
            rows[0, (u[i] >> shift) & mask] += 1
        counts = rows[0]
        for r in range(1, 4):
            counts += rows[r]
        return counts

    memmove = ctypes.memmove  # numba calls a ctypes function directly

    @numba.njit(nogil=True, boundscheck=False, cache=False)
    def find_scanning(  # pragma: no cover - JIT
        buf: np.ndarray, n: int, query: np.ndarray, found: np.ndarray, at: np.ndarray
    ) -> int:
        # One read of buf[:n] in order, eight ids at a time while all are below the query id.
        i, new = 0, 0
        for j in range(len(query)):
            q = query[j]
            while i + 8 <= n and buf[i + 7] < q:
                i += 8
            while i < n and buf[i] < q:
                i += 1
            at[j] = i
            if i < n and buf[i] == q:
                found[j] = True
            else:
                new += 1
        return new

    @numba.njit(nogil=True, boundscheck=False, cache=False)
    def find_searching(  # pragma: no cover - JIT
        buf: np.ndarray, n: int, query: np.ndarray, found: np.ndarray, at: np.ndarray
    ) -> int:
        # Binary searches, SEARCH_GROUP in lockstep: one read of each per round.
        k, new = len(query), 0
        base = np.zeros(SEARCH_GROUP, dtype=np.int64)
        for g0 in range(0, k, SEARCH_GROUP):
            g = min(SEARCH_GROUP, k - g0)
            base[:] = 0
            length = n
            while length > 1:
                half = length >> 1
                for t in range(g):
                    b = base[t]
                    base[t] = b + half if buf[b + half - 1] < query[g0 + t] else b
                length -= half
            for t in range(g):
                j, b = g0 + t, base[t]
                if n > 0 and buf[b] < query[j]:
                    b += 1
                at[j] = b
                if b < n and buf[b] == query[j]:
                    found[j] = True
                else:
                    new += 1
        return new

    @numba.njit(nogil=True, boundscheck=False, cache=False)
    def merge(  # pragma: no cover - JIT
        buf: np.ndarray, n: int, query: np.ndarray, found: np.ndarray
    ) -> int:
        k = len(query)
        at = np.empty(k, dtype=np.int64)  # where query[j] goes: the first buf[i] >= it
        if n < k * SCAN_GAP:
            new = find_scanning(buf, n, query, found, at)
        else:
            new = find_searching(buf, n, query, found, at)
        # From the end back: ``shift`` new ids are still to place, all below the old ids
        # from ``end`` on, which are in their final place already.
        shift, end = new, n
        address = buf.ctypes.data
        for j in range(k - 1, -1, -1):
            if not found[j]:
                a = at[j]
                memmove(address + (a + shift) * 8, address + a * 8, (end - a) * 8)
                buf[a + shift - 1] = query[j]
                shift -= 1
                end = a
        return n + new

    return types.SimpleNamespace(
        count=count_span, merge=merge, find_scanning=find_scanning, find_searching=find_searching
    )


def _count_compiled(kernel: Any, u: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``_count_range`` by the compiled loop (``u`` native uint64)."""
    counts = np.zeros(SLOTS, dtype=np.int64)
    for start in range(lo, hi, COMPILED_SPAN):
        counts += kernel(u, start, min(start + COMPILED_SPAN, hi))
    return counts


def _as_unsigned_1d(ids: np.ndarray) -> np.ndarray:
    """``ids`` as a 1-D array whose elements are 64-bit unsigned (a view when possible)."""
    if not isinstance(ids, np.ndarray):
        ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" or ids.dtype == np.bool_:
        raise TypeError(f"fids must be an integer array, got dtype {ids.dtype}")
    if ids.ndim != 1:
        ids = ids.reshape(-1)
    if ids.dtype.itemsize == 8:
        # Same-size view: reinterprets the two's-complement bits, keeps the byte order.
        return ids.view(np.dtype(np.uint64).newbyteorder(ids.dtype.byteorder))
    return ids  # smaller integers are widened (sign-extended) chunk by chunk


def _count_range(u: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The slot histogram of ``u[lo:hi]`` (``SLOTS`` long).

    The first chunk's histogram is the accumulator: a fresh zeroed array costs page faults
    on every call, which dominate small inputs.
    """
    buf = np.empty(min(CHUNK, max(hi - lo, 0)), dtype=np.uint64)
    widen = u.dtype.itemsize != 8
    counts: np.ndarray | None = None
    for start in range(lo, hi, CHUNK):
        chunk = u[start : min(start + CHUNK, hi)]
        b = buf[: len(chunk)]
        if widen:
            # Sign-extend to 64 bits first, as Python's ``>>`` sees a negative int.
            np.copyto(b.view(np.int64), chunk, casting="unsafe")
            np.right_shift(b, SLOT_SHIFT, out=b)
        else:
            np.right_shift(chunk, SLOT_SHIFT, out=b, casting="unsafe")
        np.bitwise_and(b, SLOT_MASK, out=b)
        part = np.bincount(b.view(np.int64), minlength=SLOTS)
        if counts is None:
            counts = part
        else:
            counts += part
    return counts if counts is not None else np.zeros(SLOTS, dtype=np.int64)


def slot_histogram(
    ids: np.ndarray, threads: int | None = None, compiled: bool | None = None
) -> np.ndarray:
    """A ``SLOTS``-long int64 vector: fids per 15-bit v2 slot ``(fid >> 48) & 0x7FFF``.

    ``ids`` holds fids as int64 (the sfixed64 an ``EntryDump`` stores) or uint64; the slot is
    taken from the unsigned 64-bit pattern, so both give the same counts. Smaller integer
    dtypes are sign-extended first. ``threads`` defaults to the usable CPUs for large inputs.
    ``compiled``: ``None`` uses the numba loop when available and worth it, ``True`` requires
    it (for native 64-bit ids), ``False`` never uses it.
    """
    u = _as_unsigned_1d(ids)
    n = len(u)
    count = _count_range
    native64 = u.dtype.itemsize == 8 and u.dtype.isnative
    if compiled or (compiled is None and native64 and n >= COMPILED_MIN):
        kernel = compiled_kernel(required=bool(compiled))
        if kernel is not None and native64:

            def count(u: np.ndarray, lo: int, hi: int) -> np.ndarray:
                return _count_compiled(kernel, u, lo, hi)

    workers = threads if threads is not None else (usable_cpus() if n >= PARALLEL_THRESHOLD else 1)
    workers = max(1, min(workers, -(-n // CHUNK)))
    if workers == 1:
        return count(u, 0, n)
    return _count_in_threads(count, u, workers)


def _count_in_threads(
    count: Callable[[np.ndarray, int, int], np.ndarray], u: np.ndarray, workers: int
) -> np.ndarray:
    """``count(u, 0, len(u))`` split over ``workers`` threads, the parts' counts added."""
    n = len(u)
    bounds = [n * i // workers for i in range(workers + 1)]
    # Round the split points to whole chunks so every thread runs full-size chunks.
    bounds = [min(n, -(-b // CHUNK) * CHUNK) for b in bounds[:-1]] + [n]
    partial: list[np.ndarray | None] = [None] * workers
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            partial[i] = count(u, bounds[i], bounds[i + 1])
        except BaseException as e:  # pragma: no cover - re-raised below
            errors.append(e)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(1, workers)]
    for t in pool:
        t.start()
    work(0)
    for t in pool:
        t.join()
    if errors:  # pragma: no cover
        raise errors[0]
    counts = partial[0]
    assert counts is not None
    for p in partial[1:]:
        counts += p
    return counts


def count_slots_from_ids(
    ids: np.ndarray, threads: int | None = None, compiled: bool | None = None
) -> np.ndarray:
    """A ``MAX_SLOT``-long int64 vector: fids per v2 slot, clamped to ``MAX_SLOT - 1``.

    :func:`slot_histogram` (same arguments) in the listener's layout. The original clamps
    ``min(slot, MAX_SLOT - 1)``; a 15-bit slot never reaches it, so the histogram's buckets
    are the first ``SLOTS`` of the vector and the rest stay zero.
    """
    return padded(slot_histogram(ids, threads, compiled))


def padded(histogram: np.ndarray) -> np.ndarray:
    """A ``SLOTS``-long slot histogram as a fresh ``MAX_SLOT``-long int64 vector."""
    counts = np.zeros(MAX_SLOT, dtype=np.int64)
    counts[:SLOTS] = histogram
    return counts


def count_slots_loop(ids: Sequence[int]) -> np.ndarray:
    """The plain per-fid loop (ground truth and benchmark baseline)."""
    counts = [0] * MAX_SLOT
    for fid in ids:
        counts[min((int(fid) >> SLOT_SHIFT) & SLOT_MASK, MAX_SLOT - 1)] += 1
    return np.array(counts, dtype=np.int64)


def _canonical_ids(data: bytes, lengths: np.ndarray, offsets: np.ndarray) -> tuple:
    """Ids of the entries in canonical layout; returns ``(ids, is_canonical)``."""
    n = len(lengths)
    ids = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    if n == 0:
        return ids, ok
    buf = np.frombuffer(data, dtype=np.uint8)
    # Canonical: 9 + 5k bytes, ``09`` first, ``15`` at every 5th byte after the id.
    shape_ok = (lengths >= 9) & ((lengths - 9) % 5 == 0)
    for length in np.unique(lengths[shape_ok]).tolist():
        rows = np.flatnonzero(shape_ok & (lengths == length))
        starts = offsets[rows]
        good = buf[starts] == _ID_TAG
        for pos in range(9, length, 5):
            good &= buf[starts + pos] == _NUM_TAG
        rows, starts = rows[good], starts[good]
        raw = buf[starts[:, None] + np.arange(1, 9)]  # (m, 8) little-endian id bytes
        ids[rows] = np.ascontiguousarray(raw).view("<i8").reshape(-1)
        ok[rows] = True
    return ids, ok


def ids_from_entry_dumps(serialized: Sequence[bytes]) -> np.ndarray:
    """The ``id`` of each serialized ``monolith.hash_table.EntryDump``, as int64.

    Exactly what ``EntryDump.FromString(b).id`` gives for every entry (the last ``id`` wins,
    a missing one is 0), decoded in bulk when the entries have the canonical layout.
    """
    serialized = list(serialized)
    n = len(serialized)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, serialized), dtype=np.int64, count=n)
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    ids, ok = _canonical_ids(b"".join(serialized), lengths, offsets)
    if not ok.all():
        entry = EntryDump()
        for i in np.flatnonzero(~ok).tolist():
            entry.ParseFromString(serialized[i])
            ids[i] = entry.id
    return ids
