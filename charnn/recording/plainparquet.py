"""A minimal Parquet writer for state files: one int64 `pos` column and float16/float32 unit
columns, all REQUIRED, PLAIN-encoded, uncompressed, one data page per column per row group.

    with PlainParquetWriter(path, ["u0000", "u0001"], np.float16) as w:
        w.write_row_group(pos, columns)        # pos (n,) int64, columns (U, n) as stored

Why not pyarrow's writer: for these files it spends its time per value (pyarrow 26 writes
float16 as FIXED_LEN_BYTE_ARRAY at ~100M values/s per core here, ~200 MB/s), while a PLAIN
page of a REQUIRED column is exactly the values' little-endian bytes (no levels, no lengths),
so a page can be written straight from the transposed array. Measured here, a 2x256 recording
of all six LSTM states spent most of its time in pyarrow's writer. The output is standard
Parquet (format 2, the FLOAT16 logical type on FIXED_LEN_BYTE_ARRAY(2), statistics on `pos`
for row-group pruning) and is read by pyarrow, pandas and DuckDB; tests check all three.

The footer is Thrift compact protocol, written by the few functions below (parquet.thrift:
FileMetaData, SchemaElement, RowGroup, ColumnChunk, ColumnMetaData, PageHeader, Statistics).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = b"PAR1"
# parquet.thrift enums
INT64, FLOAT, FIXED_LEN_BYTE_ARRAY = 2, 4, 7
REQUIRED, PLAIN, RLE, UNCOMPRESSED, DATA_PAGE = 0, 0, 3, 0, 0
LOGICAL_FLOAT16 = 15  # LogicalType union member Float16Type
# Thrift compact protocol field types
T_I32, T_I64, T_BINARY, T_LIST, T_STRUCT = 5, 6, 8, 9, 12


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


class _Struct:
    """A Thrift compact struct, fields added in increasing id order."""

    def __init__(self):
        self.buf, self.last = bytearray(), 0

    def _header(self, fid: int, ftype: int) -> None:
        delta = fid - self.last
        if 0 < delta <= 15:
            self.buf.append((delta << 4) | ftype)
        else:
            self.buf.append(ftype)
            self.buf += _zigzag(fid)
        self.last = fid

    def i32(self, fid: int, value: int) -> "_Struct":
        self._header(fid, T_I32)
        self.buf += _zigzag(value)
        return self

    def i64(self, fid: int, value: int) -> "_Struct":
        self._header(fid, T_I64)
        self.buf += _zigzag(value)
        return self

    def binary(self, fid: int, value: bytes | str) -> "_Struct":
        data = value.encode() if isinstance(value, str) else value
        self._header(fid, T_BINARY)
        self.buf += _varint(len(data)) + data
        return self

    def struct(self, fid: int, value: "_Struct") -> "_Struct":
        self._header(fid, T_STRUCT)
        self.buf += value.bytes()
        return self

    def list(self, fid: int, etype: int, items: list) -> "_Struct":
        self._header(fid, T_LIST)
        n = len(items)
        self.buf += bytes([(n << 4) | etype]) if n < 15 else bytes([0xF0 | etype]) + _varint(n)
        for item in items:
            if etype == T_STRUCT:
                self.buf += item.bytes()
            elif etype == T_I32:
                self.buf += _zigzag(item)
            elif etype == T_BINARY:
                data = item.encode() if isinstance(item, str) else item
                self.buf += _varint(len(data)) + data
        return self

    def bytes(self) -> bytes:
        return bytes(self.buf) + b"\x00"  # STOP


class PlainParquetWriter:
    """Row groups of `pos` (int64) and unit columns (float16 or float32) into one Parquet file."""

    def __init__(self, path: Path, names: list[str], dtype):
        self.names, self.dtype = list(names), np.dtype(dtype)
        if self.dtype not in (np.float16, np.float32):
            raise ValueError(f"unit columns must be float16 or float32, not {self.dtype}")
        self.file = open(path, "wb")
        self.file.write(MAGIC)
        self.offset = len(MAGIC)
        self.row_groups: list[_Struct] = []
        self.num_rows = 0

    def _page(self, data: bytes | memoryview, n: int) -> tuple[int, int]:
        """Write one PLAIN data page; returns (its offset, its size with the header)."""
        header = _Struct().i32(1, DATA_PAGE).i32(2, len(data)).i32(3, len(data)).struct(
            5, _Struct().i32(1, n).i32(2, PLAIN).i32(3, RLE).i32(4, RLE)).bytes()
        start = self.offset
        self.file.write(header)
        self.file.write(data)
        self.offset += len(header) + len(data)
        return start, self.offset - start

    def _chunk(self, name: str, ptype: int, start: int, size: int, n: int, stats: _Struct | None) -> _Struct:
        meta = (_Struct().i32(1, ptype).list(2, T_I32, [PLAIN]).list(3, T_BINARY, [name]).i32(4, UNCOMPRESSED)
                .i64(5, n).i64(6, size).i64(7, size).i64(9, start))
        if stats is not None:
            meta.struct(12, stats)
        return _Struct().i64(2, start).struct(3, meta)

    def write_row_group(self, pos: np.ndarray, columns: np.ndarray) -> None:
        """pos (n,) int64 ascending; columns (U, n) in this writer's dtype, one row per unit."""
        pos = np.ascontiguousarray(pos, dtype="<i8")
        n = len(pos)
        if columns.shape != (len(self.names), n) or columns.dtype != self.dtype:
            raise ValueError(f"expected ({len(self.names)}, {n}) {self.dtype}, got {columns.shape} {columns.dtype}")
        columns = np.ascontiguousarray(columns).view(columns.dtype.newbyteorder("<"))
        first = self.offset
        start, size = self._page(pos.tobytes(), n)
        lo, hi = struct.pack("<q", int(pos[0])), struct.pack("<q", int(pos[-1]))
        stats = _Struct().binary(1, hi).binary(2, lo).i64(3, 0).binary(5, hi).binary(6, lo)
        chunks = [self._chunk("pos", INT64, start, size, n, stats)]
        ptype = FIXED_LEN_BYTE_ARRAY if self.dtype == np.float16 else FLOAT
        for name, column in zip(self.names, columns):
            start, size = self._page(memoryview(column).cast("B"), n)
            chunks.append(self._chunk(name, ptype, start, size, n, None))
        total = self.offset - first
        self.row_groups.append(_Struct().list(1, T_STRUCT, chunks).i64(2, total).i64(3, n)
                               .i64(5, first).i64(6, total).i32(7, len(self.row_groups)))
        self.num_rows += n

    def _schema(self) -> list[_Struct]:
        root = _Struct().binary(4, "schema").i32(5, len(self.names) + 1)
        pos = _Struct().i32(1, INT64).i32(3, REQUIRED).binary(4, "pos")
        units = []
        for name in self.names:
            if self.dtype == np.float16:
                units.append(_Struct().i32(1, FIXED_LEN_BYTE_ARRAY).i32(2, 2).i32(3, REQUIRED).binary(4, name)
                             .struct(10, _Struct().struct(LOGICAL_FLOAT16, _Struct())))
            else:
                units.append(_Struct().i32(1, FLOAT).i32(3, REQUIRED).binary(4, name))
        return [root, pos, *units]

    def close(self) -> None:
        if self.file.closed:
            return
        footer = (_Struct().i32(1, 2).list(2, T_STRUCT, self._schema()).i64(3, self.num_rows)
                  .list(4, T_STRUCT, self.row_groups).binary(6, "charnn plainparquet").bytes())
        self.file.write(footer + struct.pack("<I", len(footer)) + MAGIC)
        self.file.close()

    def __enter__(self) -> "PlainParquetWriter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.file.close()  # a failed write leaves no footer: the file does not open as Parquet
