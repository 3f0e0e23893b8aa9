"""A stand-in for Monolith's embedding hash tables: fid -> serialized ``EntryDump``.

Only what the slot-count listener needs: a device, an ``assign`` op that inserts or
overwrites entries by id, and a ``dump`` read that yields every entry once, serialized
as ``monolith.hash_table.EntryDump`` (id as sfixed64, the embedding in ``num``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reference.graph import Graph, Op, Placeholder, Read, Store, Variable
from reference.protos.embedding_hash_table_pb2 import EntryDump

HASH_TABLE_COLLECTION = "monolith_hash_tables"
MULTI_HASH_TABLE_COLLECTION = "monolith_multi_hash_tables"


def to_int64(fid: int) -> int:
    """A 64-bit fid as the signed value an sfixed64 field holds."""
    fid &= (1 << 64) - 1
    return fid - (1 << 64) if fid >= 1 << 63 else fid


class HashTable:
    """Entries keyed by fid; the value store lives in the session like a variable."""

    def __init__(
        self, name: str, dim: int = 1, device: str = "", graph: Graph | None = None
    ) -> None:
        self.name = name
        self.dim = dim
        self.device = device
        self._var = Variable(f"{name}/entries", {}, local=False)
        if graph is not None:
            graph.add_to_collection(HASH_TABLE_COLLECTION, self)

    def assign(
        self, fids: Iterable[int], embeddings: Iterable[Iterable[float]] | None = None
    ) -> Op:
        """Insert or overwrite ``fids`` (zero embeddings unless given)."""
        ids = [to_int64(f) for f in fids]
        values = [list(e) for e in embeddings] if embeddings is not None else None

        def run(store: Store, feed: Mapping[Placeholder, Any]) -> None:
            entries = dict(store.read(self._var))
            for i, fid in enumerate(ids):
                entries[fid] = values[i] if values is not None else [0.0] * self.dim
            store.write(self._var, entries)

        return Op(f"{self.name}/assign", run)

    def dump(self) -> Read:
        """Every entry once, as serialized ``EntryDump`` bytes, in insertion order."""

        def read(store: Store) -> list[bytes]:
            return [
                EntryDump(id=fid, num=num).SerializeToString()
                for fid, num in store.read(self._var).items()
            ]

        return Read(f"{self.name}/dump", read)
