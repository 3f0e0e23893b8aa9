"""The feature dump stream: records of (uint64 LE lagrange header, uint64 LE length, payload)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from google.protobuf.message import DecodeError

from reference.protos.example_pb2 import ExampleBatch

HEADER_SIZE = 16


class StreamError(ValueError):
    """The stream is not well framed; ``offset`` is where the problem starts."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"offset {offset}: {message}")
        self.offset = offset


@dataclass(frozen=True)
class Record:
    index: int
    offset: int  # of the record's header
    header: int
    payload: bytes

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER_SIZE

    def decode(self) -> ExampleBatch:
        batch = ExampleBatch()
        try:
            batch.ParseFromString(self.payload)
        except DecodeError as e:
            raise StreamError(
                self.payload_offset, f"record {self.index}: payload is not an ExampleBatch: {e}"
            ) from e
        return batch


def read_records(data: bytes) -> list[Record]:
    """Split a stream into records; raises :class:`StreamError` on bad framing."""
    records = []
    pos = 0
    while pos < len(data):
        left = len(data) - pos
        if left < HEADER_SIZE:
            raise StreamError(
                pos, f"record {len(records)}: truncated header ({left} bytes left, need 16)"
            )
        header, length = struct.unpack_from("<QQ", data, pos)
        if length > left - HEADER_SIZE:
            raise StreamError(
                pos + 8,
                f"record {len(records)}: length {length} runs past the end "
                f"({left - HEADER_SIZE} bytes left)",
            )
        start = pos + HEADER_SIZE
        records.append(Record(len(records), pos, header, data[start : start + length]))
        pos = start + length
    return records


def iter_records(f: BinaryIO, size: int) -> Iterator[Record]:
    """Records read one at a time from a binary file of ``size`` bytes (memory bounded by
    one record); raises :class:`StreamError` on bad framing, as :func:`read_records`."""
    pos = index = 0
    while pos < size:
        head = f.read(HEADER_SIZE)
        if len(head) < HEADER_SIZE:
            raise StreamError(
                pos, f"record {index}: truncated header ({len(head)} bytes left, need 16)"
            )
        header, length = struct.unpack("<QQ", head)
        left = size - pos - HEADER_SIZE
        if length > left:
            raise StreamError(
                pos + 8, f"record {index}: length {length} runs past the end ({left} bytes left)"
            )
        payload = f.read(length)
        if len(payload) != length:
            raise StreamError(pos + HEADER_SIZE, f"record {index}: the file shrank while read")
        yield Record(index, pos, header, payload)
        pos += HEADER_SIZE + length
        index += 1
