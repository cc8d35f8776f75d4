"""R data without R: a package's lazy-load database (``Rdata.rdx`` + ``Rdata.rdb``) and ``.rda`` files.

The R objects themselves are parsed by the ``rdata`` package (PyPI, MIT; charnn's ``recipes``
extra), which reads R's serialisation format but not the lazy-load container around it. That
container is read here:

* ``Rdata.rdx``, the index: one serialised R list ``list(variables=, references=, compressed=)``,
  gzip-, bzip2- or xz-compressed (``saveRDS``) or a 4-byte big-endian length plus a zlib stream;
  ``variables`` maps each object name to an integer ``c(offset, length)`` into the ``.rdb``.
* ``Rdata.rdb``, the chunks: each a 4-byte big-endian uncompressed length followed by a zlib
  stream (or, for R's type-3 compression, a type byte ``Z``/``2``/``X``/``0`` and a zlib, bzip2,
  xz or raw payload) of one serialised object.

The chunk's stated length is checked against what it decompresses to, and zlib, bzip2 and xz
check their own streams, so a damaged file fails here: rdata itself reads a truncated
serialisation without complaint.

Why rdata and not a parser of our own: rdata is about ten times slower than a standard-library
parser of the format was (corpora/README.md has the measurement), which on a build that
runs once does not pay for maintaining a parser.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import warnings
import zlib
from typing import Any

import numpy as np

from . import RecipeError

_FILE_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"X\n", b"RDX2\n", b"RDX3\n")


def _rdata():
    try:
        import rdata
    except ImportError:
        raise RecipeError("reading R data needs the rdata package: pip install rdata "
                          "(charnn's `recipes` extra: pip install -e '.[recipes]' in the repository)") from None
    return rdata


def _parse(data: bytes, what: str, extension: str) -> Any:
    """One serialised R object (``.rds``) or the objects of an ``.rda`` file, as Python values."""
    rdata = _rdata()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns about R classes it has no converter for
            return rdata.conversion.convert(rdata.parser.parse_data(data, extension=extension))
    except Exception as err:  # whatever a third-party parser raises on these bytes, the input is unreadable
        raise RecipeError(f"{what} is not R data that rdata can read ({type(err).__name__}: {err})") from None


def decompress_chunk(blob: bytes, what: str = "lazy-load chunk") -> bytes:
    """One lazy-load chunk: 4-byte big-endian length, then zlib (or a type byte and payload)."""
    if len(blob) < 5:
        raise RecipeError(f"{what} of {len(blob)} bytes is too short")
    expected = struct.unpack(">I", blob[:4])[0]
    kind = blob[4:5]
    try:
        if kind == b"Z":
            out = zlib.decompress(blob[5:])
        elif kind == b"2":
            out = bz2.decompress(blob[5:])
        elif kind == b"X":
            out = lzma.decompress(blob[5:])
        elif kind == b"0":
            out = blob[5:]
        else:
            out = zlib.decompress(blob[4:])
    except (zlib.error, OSError, ValueError, lzma.LZMAError) as err:
        raise RecipeError(f"cannot decompress {what}: {err}") from None
    if len(out) != expected:
        raise RecipeError(f"{what} decompressed to {len(out)} bytes, its header says {expected}")
    return out


def read_index(rdx: bytes, what: str = "Rdata.rdx") -> dict[str, tuple[int, int]]:
    """The ``variables`` of a lazy-load index: object name -> (offset, length) in the ``.rdb``."""
    data = rdx if rdx.startswith(_FILE_MAGICS) else decompress_chunk(rdx, what)
    index = _parse(data, what, ".rds")
    if not isinstance(index, dict) or not isinstance(index.get("variables"), dict):
        raise RecipeError(f"{what} is not a lazy-load index (no 'variables' list)")
    out = {}
    for name, where in index["variables"].items():
        try:
            offset, length = (int(v) for v in list(where)[:2])
        except (TypeError, ValueError):
            raise RecipeError(f"{what}: bad index entry for {name!r}") from None
        out[name] = (offset, length)
    return out


def read_lazyload(rdx: bytes, rdb: bytes, names: list[str], rdx_name: str = "Rdata.rdx",
                  rdb_name: str = "Rdata.rdb") -> dict[str, Any]:
    """Those of the objects ``names`` that a lazy-load database holds (others are not decoded).

    ``rdx_name`` and ``rdb_name`` say where the two files came from, in error messages.
    """
    index = read_index(rdx, rdx_name)
    objects = {}
    for name in names:
        if name not in index:
            continue
        offset, length = index[name]
        if offset + length > len(rdb):
            raise RecipeError(f"{rdb_name}: object {name!r} at {offset}+{length} lies past its end "
                              f"({len(rdb)} bytes): the file is truncated")
        chunk = decompress_chunk(rdb[offset:offset + length], f"{rdb_name}, the chunk of {name!r},")
        objects[name] = _parse(chunk, f"{rdb_name}, object {name!r},", ".rds")
    return objects


def read_rda(data: bytes, what: str = "an .rda file") -> dict[str, Any]:
    """The objects of an ``.rda``/``.RData`` file made by ``save()`` (any compression)."""
    objects = _parse(data, what, ".rda")
    if not isinstance(objects, dict):
        raise RecipeError(f"{what} does not hold named objects")
    return objects


def character_vector(obj: Any) -> list[str | None] | None:
    """An R character vector as rdata converts it (strings, None for NA), as a list; None if ``obj`` is not one."""
    if not isinstance(obj, (list, np.ndarray)):
        return None
    lines = list(obj)
    return lines if all(v is None or isinstance(v, str) for v in lines) else None
