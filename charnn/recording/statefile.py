"""A recording's state file: one Parquet file per (layer, kind, part) whose whole layout (every
page header, every column chunk's offset, the footer) is known before any value is computed, so
the recorder writes values straight into it through a memory map and readers read them in place.

    layout = StateLayout(rows=n, segment=L, width=H, dtype="float16", start=P0)
    f = StateFile.create(path, layout)   # preallocated, every page header written, values zero
    f.groups[:, :, a:b] = ...            # (G, H, L) writable view: the full row groups' values
    f.last[:, a:b] = ...                 # (H, n_last) view of the last, shorter group (None if none)
    f.finish()                           # footer, fsync: a Parquet file that pyarrow and DuckDB read
    StateFile.open(path, layout)         # read-only views, after checking the file's size

Row group g holds rows [g*L, (g+1)*L) of the part (one stream's segment, see `streams`). In it,
column `pos` is a DELTA_BINARY_PACKED page (a few dozen bytes, with min/max statistics for
row-group pruning) in a fixed slot, and column u (`u0000` ...) one PLAIN page of REQUIRED
float16 (FLOAT16 logical type) or float32 values, uncompressed, with no statistics. Each unit's
page header sits right before its values, which start on a 64-byte boundary at

    64 + g * group_stride + pos_slot + u * unit_stride + 64

so the values of the full groups are one regular (G, H, L) strided array, and the last group's
a regular (H, n_last) one. Readers follow each ColumnMetaData.data_page_offset to its page and
ignore the zeros between chunks (pyarrow, pandas, DuckDB: tests/test_statefile.py). The bytes
beyond the values are under 1.5% of a file (64 per unit and group, and the footer).
"""

from __future__ import annotations

import ctypes
import functools
import math
import mmap
import os
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .thrift import T_BINARY, T_I32, T_LIST, T_STRUCT, Struct, list_header, varint, zigzag

MAGIC = b"PAR1"
ALIGN = 64  # every unit's values start on this boundary (a cache line, and AVX-512 loads)
HEAD = 64  # "PAR1" and zeros: the first row group starts here
PAGE_SLOT = 64  # bytes before a unit's values: zeros, then its page header
# parquet.thrift enums
INT64, FLOAT, FIXED_LEN_BYTE_ARRAY = 2, 4, 7
REQUIRED, PLAIN, RLE, DELTA_BINARY_PACKED, UNCOMPRESSED, DATA_PAGE = 0, 0, 3, 5, 0, 0
LOGICAL_FLOAT16 = 15  # LogicalType union member Float16Type
DELTA_BLOCK, DELTA_MINIBLOCKS = 1024, 8  # values per block of the pos pages, miniblocks per block
DTYPES = {"float16": np.float16, "float32": np.float32}
MADV_POPULATE_WRITE = 23  # Linux 5.14+: fault every page of a range in writable, in one call


@functools.cache
def _madvise():
    """libc's madvise (called through ctypes, which lets go of the GIL), or None without libc."""
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes, madvise.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    return madvise


def _populate(m: mmap.mmap) -> None:
    """Fault every page of a writable map in (MADV_POPULATE_WRITE) through libc, letting go of the GIL
    (mmap.madvise holds it), so that files are made in parallel; on an older kernel (or without
    libc) the pages fault in as they are written instead."""
    madvise = _madvise()
    if madvise is None:
        return
    view = (ctypes.c_char * len(m)).from_buffer(m)
    try:
        madvise(ctypes.addressof(view), len(m), MADV_POPULATE_WRITE)
    finally:
        del view  # the map can close only when no view of it is left


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def delta_arange(start: int, n: int) -> bytes:
    """DELTA_BINARY_PACKED bytes of start, start + 1, ... (n values): every delta is 1, so each
    block is its minimum delta and zero bit widths, with no packed bits."""
    head = varint(DELTA_BLOCK) + varint(DELTA_MINIBLOCKS) + varint(n) + zigzag(start)
    return head + (zigzag(1) + bytes(DELTA_MINIBLOCKS)) * math.ceil(max(n - 1, 0) / DELTA_BLOCK)


def page_header(size: int, n: int, encoding: int) -> bytes:
    """A v1 DATA_PAGE header of `size` bytes of `n` values, no levels (REQUIRED), uncompressed."""
    return (Struct().i32(1, DATA_PAGE).i32(2, size).i32(3, size)
            .struct(5, Struct().i32(1, n).i32(2, encoding).i32(3, RLE).i32(4, RLE)).bytes())


def unit_name(unit: int) -> str:
    return f"u{unit:04d}"


@dataclass(frozen=True)
class GroupShape:
    """Where things are in a row group of `rows` rows (offsets from its start)."""
    rows: int
    width: int
    itemsize: int

    @property
    def pos_slot(self) -> int:  # the pos page: header (< 32 bytes) and data (< 20 + 9 per block)
        return _round_up(64 + 9 * math.ceil(self.rows / DELTA_BLOCK), ALIGN)

    @property
    def unit_stride(self) -> int:
        return PAGE_SLOT + _round_up(self.rows * self.itemsize, ALIGN)

    @property
    def size(self) -> int:
        return self.pos_slot + self.width * self.unit_stride

    def values(self, unit: int) -> int:
        return self.pos_slot + unit * self.unit_stride + PAGE_SLOT


class RowGroups:
    """`rows` rows in groups of `segment` rows, the last one shorter when `segment` does not divide
    `rows`: a state file's row groups, and a part's streams (one group each)."""
    rows: int
    segment: int

    @property
    def full_groups(self) -> int:
        return self.rows // self.segment

    @property
    def last_rows(self) -> int:
        """Rows of the shorter last group (0 if every group is whole)."""
        return self.rows % self.segment


@dataclass(frozen=True)
class StateLayout(RowGroups):
    """One state file: `rows` rows from text position `start`, in row groups of `segment` rows
    (the last one shorter when `segment` does not divide `rows`), `width` unit columns."""
    rows: int
    segment: int
    width: int
    dtype: str
    start: int = 0

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"state files hold float16 or float32, not {self.dtype!r}")
        if self.rows < 1 or self.segment < 1 or self.width < 1:
            raise ValueError(f"a state file needs rows, segment and width >= 1 (got {self})")

    @property
    def itemsize(self) -> int:
        return np.dtype(DTYPES[self.dtype]).itemsize

    @cached_property
    def full(self) -> GroupShape:
        return GroupShape(self.segment, self.width, self.itemsize)

    @cached_property
    def last(self) -> GroupShape:
        return GroupShape(self.last_rows, self.width, self.itemsize)

    def group_start(self, g: int) -> int:
        return HEAD + g * self.full.size

    @property
    def footer_start(self) -> int:
        return self.group_start(self.full_groups) + (self.last.size if self.last_rows else 0)

    @cached_property
    def footer(self) -> bytes:
        return _footer(self)

    @property
    def size(self) -> int:
        """Bytes of the whole file."""
        return self.footer_start + len(self.footer) + 8

    def groups(self) -> list[tuple[int, int, GroupShape]]:
        """(file offset, first row, shape) of every row group, in order."""
        out = [(self.group_start(g), g * self.segment, self.full) for g in range(self.full_groups)]
        if self.last_rows:
            out.append((self.group_start(self.full_groups), self.full_groups * self.segment, self.last))
        return out


def _unit_type(layout: StateLayout) -> int:
    return FIXED_LEN_BYTE_ARRAY if layout.dtype == "float16" else FLOAT


def _unit_templates(layout: StateLayout, shape: GroupShape) -> list[tuple[bytes, int]]:
    """Per unit of a row group of this shape: its ColumnMetaData fields 1-7 (the same in every
    group) and its page header's offset in the group."""
    data = shape.rows * layout.itemsize
    size = len(page_header(data, shape.rows, PLAIN)) + data
    ptype = _unit_type(layout)
    return [(bytes(Struct().i32(1, ptype).list(2, T_I32, [PLAIN]).list(3, T_BINARY, [unit_name(u)])
                   .i32(4, UNCOMPRESSED).i64(5, shape.rows).i64(6, size).i64(7, size).buf),
             shape.values(u) - (size - data)) for u in range(layout.width)]


def _column_chunks(layout: StateLayout, base: int, first: int, shape: GroupShape, units) -> bytes:
    """The encoded list of one row group's ColumnChunks: pos, then every unit from its template
    (only the offsets change from group to group)."""
    pos = delta_arange(layout.start + first, shape.rows)
    pos_size = len(page_header(len(pos), shape.rows, DELTA_BINARY_PACKED)) + len(pos)
    lo, hi = struct.pack("<q", layout.start + first), struct.pack("<q", layout.start + first + shape.rows - 1)
    stats = Struct().binary(1, hi).binary(2, lo).i64(3, 0).binary(5, hi).binary(6, lo)
    pos_meta = (Struct().i32(1, INT64).list(2, T_I32, [DELTA_BINARY_PACKED]).list(3, T_BINARY, ["pos"])
                .i32(4, UNCOMPRESSED).i64(5, shape.rows).i64(6, pos_size).i64(7, pos_size).i64(9, base)
                .struct(12, stats))
    chunks = [list_header(layout.width + 1, T_STRUCT), Struct().i64(2, base).struct(3, pos_meta).bytes()]
    for meta, header in units:
        off = zigzag(base + header)
        # ColumnChunk{2: file_offset, 3: ColumnMetaData{1..7, 9: data_page_offset}}: both the page header
        chunks.append(b"\x26" + off + b"\x1c" + meta + b"\x26" + off + b"\x00\x00")
    return b"".join(chunks)


def _footer(layout: StateLayout) -> bytes:
    """FileMetaData: the schema (pos, then the unit columns, all REQUIRED) and every row group."""
    root = Struct().binary(4, "schema").i32(5, layout.width + 1)
    schema = [root, Struct().i32(1, INT64).i32(3, REQUIRED).binary(4, "pos")]
    for u in range(layout.width):
        if layout.dtype == "float16":
            schema.append(Struct().i32(1, FIXED_LEN_BYTE_ARRAY).i32(2, 2).i32(3, REQUIRED).binary(4, unit_name(u))
                          .struct(10, Struct().struct(LOGICAL_FLOAT16, Struct())))
        else:
            schema.append(Struct().i32(1, FLOAT).i32(3, REQUIRED).binary(4, unit_name(u)))
    groups = layout.groups()
    row_groups = [list_header(len(groups), T_STRUCT)]
    templates = {shape: _unit_templates(layout, shape) for shape in {shape for _, _, shape in groups}}
    for ordinal, (base, first, shape) in enumerate(groups):
        row_groups.append(Struct().raw(1, T_LIST, _column_chunks(layout, base, first, shape, templates[shape]))
                          .i64(2, shape.size).i64(3, shape.rows).i64(5, base).i64(6, shape.size)
                          .i16(7, ordinal).bytes())
    return (Struct().i32(1, 2).list(2, T_STRUCT, schema).i64(3, layout.rows).raw(4, T_LIST, b"".join(row_groups))
            .binary(6, "charnn statefile").bytes())


class StateFile:
    """A state file's values, as memory-mapped views (see the module docstring)."""

    def __init__(self, path: Path, layout: StateLayout, fd: int, writable: bool):
        self.path, self.layout, self.fd = Path(path), layout, fd
        self.map = mmap.mmap(fd, layout.size, prot=mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0))
        dtype, L = np.dtype(DTYPES[layout.dtype]), layout
        self.groups = np.ndarray((L.full_groups, L.width, L.segment), dtype, self.map,
                                 offset=HEAD + L.full.values(0),
                                 strides=(L.full.size, L.full.unit_stride, dtype.itemsize))  # (G, H, L)
        self.last = None
        if L.last_rows:
            self.last = np.ndarray((L.width, L.last_rows), dtype, self.map,
                                   offset=L.group_start(L.full_groups) + L.last.values(0),
                                   strides=(L.last.unit_stride, dtype.itemsize))  # (H, n_last)

    @classmethod
    def create(cls, path: Path, layout: StateLayout) -> "StateFile":
        """A new file of the layout's size, disk space reserved (a full disk fails here, not as a
        SIGBUS in a memory-mapped write), "PAR1" and every page header written, values zero."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)  # less the umask, as open() gives
        try:
            os.posix_fallocate(fd, 0, layout.size)
            f = cls(path, layout, fd, writable=True)
        except BaseException:
            os.close(fd)
            raise
        # Every page now, in one call: a cheaper fault per page than one at a time while writing.
        # Before anything is written: writes into the reserved space first split its extents, and
        # then faulting the pages in took 5x as long (0.34 against 0.07 s for 512 MB on ext4 here).
        _populate(f.map)
        f.map[:len(MAGIC)] = MAGIC
        for base, first, shape in layout.groups():
            pos = delta_arange(layout.start + first, shape.rows)
            head = page_header(len(pos), shape.rows, DELTA_BINARY_PACKED) + pos
            f.map[base:base + len(head)] = head
        for groups, start, shape in ((layout.full_groups, HEAD, layout.full),
                                     (1 if layout.last_rows else 0, layout.group_start(layout.full_groups), layout.last)):
            if groups:  # every unit's page header, right before its values: one strided assignment
                header = np.frombuffer(page_header(shape.rows * layout.itemsize, shape.rows, PLAIN), np.uint8)
                np.ndarray((groups, layout.width, header.size), np.uint8, f.map,
                           offset=start + shape.values(0) - header.size,
                           strides=(shape.size, shape.unit_stride, 1))[:] = header
        return f

    @classmethod
    def open(cls, path: Path, layout: StateLayout) -> "StateFile":
        """Read-only views of a finished file; ValueError (naming the file) if its size is not the layout's."""
        size = os.stat(path).st_size
        if size != layout.size:
            raise ValueError(f"{path} has {size:,} bytes where its recording says {layout.size:,}: it is "
                             "truncated or damaged")
        fd = os.open(path, os.O_RDONLY)
        try:
            return cls(path, layout, fd, writable=False)
        finally:
            os.close(fd)  # the map stays: a reader of many parts keeps no file descriptors

    def release(self) -> None:
        """Drop this process's mapped pages (MADV_DONTNEED): they count in its RSS. Written values
        stay in the page cache, dirty until the kernel writes them, and are read back from there."""
        self.map.madvise(mmap.MADV_DONTNEED)

    def finish(self) -> None:
        """Write the footer and make the file durable."""
        self.map.flush()
        os.pwrite(self.fd, self.layout.footer + struct.pack("<I", len(self.layout.footer)) + MAGIC,
                  self.layout.footer_start)
        os.fsync(self.fd)

    def close(self) -> None:
        """Close the file (a writer's); the map closes when no view of it is left."""
        self.groups = self.last = None
        try:
            self.map.close()
        except BufferError:  # a view is still referenced somewhere: the map closes with it
            pass
        os.close(self.fd)
