"""The Thrift compact protocol, as much of it as a Parquet footer and page headers need
(parquet.thrift: FileMetaData, SchemaElement, RowGroup, ColumnChunk, ColumnMetaData, PageHeader,
Statistics).

    header = Struct().i32(1, DATA_PAGE).i32(2, size).i32(3, size).struct(5, Struct().i32(1, n)).bytes()

Fields are added in increasing id order; `raw` appends bytes encoded elsewhere (a list of
column chunks built from templates, see `statefile`).
"""

from __future__ import annotations

# Thrift compact protocol field types
T_I16, T_I32, T_I64, T_BINARY, T_LIST, T_STRUCT = 4, 5, 6, 8, 9, 12


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(n: int) -> bytes:
    return varint((n << 1) ^ (n >> 63))


def field_header(delta: int, ftype: int) -> bytes:
    """The one-byte header of a field `delta` ids after the previous one (1..15)."""
    assert 0 < delta <= 15, "field ids must increase by 1..15"
    return bytes([(delta << 4) | ftype])


def list_header(n: int, etype: int) -> bytes:
    return bytes([(n << 4) | etype]) if n < 15 else bytes([0xF0 | etype]) + varint(n)


class Struct:
    """A Thrift compact struct, fields added in increasing id order."""

    def __init__(self):
        self.buf, self.last = bytearray(), 0

    def _header(self, fid: int, ftype: int) -> None:
        delta = fid - self.last
        if 0 < delta <= 15:
            self.buf += field_header(delta, ftype)
        else:
            self.buf.append(ftype)
            self.buf += zigzag(fid)
        self.last = fid

    def i16(self, fid: int, value: int) -> "Struct":
        self._header(fid, T_I16)
        self.buf += zigzag(value)
        return self

    def i32(self, fid: int, value: int) -> "Struct":
        self._header(fid, T_I32)
        self.buf += zigzag(value)
        return self

    def i64(self, fid: int, value: int) -> "Struct":
        self._header(fid, T_I64)
        self.buf += zigzag(value)
        return self

    def binary(self, fid: int, value: bytes | str) -> "Struct":
        data = value.encode() if isinstance(value, str) else value
        self._header(fid, T_BINARY)
        self.buf += varint(len(data)) + data
        return self

    def struct(self, fid: int, value: "Struct") -> "Struct":
        self._header(fid, T_STRUCT)
        self.buf += value.bytes()
        return self

    def list(self, fid: int, etype: int, items: list) -> "Struct":
        self._header(fid, T_LIST)
        self.buf += list_header(len(items), etype)
        for item in items:
            if etype == T_STRUCT:
                self.buf += item.bytes()
            elif etype == T_I32:
                self.buf += zigzag(item)
            elif etype == T_BINARY:
                data = item.encode() if isinstance(item, str) else item
                self.buf += varint(len(data)) + data
        return self

    def raw(self, fid: int, ftype: int, encoded: bytes) -> "Struct":
        """A field whose value is already encoded (a list of structs built from templates)."""
        self._header(fid, ftype)
        self.buf += encoded
        return self

    def bytes(self) -> bytes:
        return bytes(self.buf) + b"\x00"  # STOP
