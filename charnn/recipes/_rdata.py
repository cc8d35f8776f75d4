"""Read R data without R: the XDR serialisation format and lazy-load databases (standard library only).

R packages keep their datasets in a lazy-load database, a pair of files:

* ``NAME.rdx``, the index: a serialised R list ``list(variables=, references=, compressed=)``,
  stored either gzip-compressed (``saveRDS``) or as a 4-byte big-endian length plus a zlib stream;
  ``variables`` maps each object name to an integer ``c(offset, length)`` into the ``.rdb``.
* ``NAME.rdb``, the chunks: each is a 4-byte big-endian uncompressed length followed by a zlib
  stream (or, for R's type-3 compression, a type byte ``Z``/``2``/``X``/``0`` and a zlib, bzip2, xz
  or raw payload) of one serialised object.

A serialised object is ``X\\n`` (XDR, big-endian), the format version (2 or 3), two R versions,
for version 3 the native encoding, then items: a 32-bit flags word (type in the low byte, ``levels``
in the top 20 bits, object/attribute/tag bits at 8/9/10) and a type-specific payload.

:func:`unserialize` covers what datasets use -- atomic vectors, lists, pairlists, attributes,
symbols, references, NULL and the special environments -- and skips environments, closures and
language objects structurally. Byte code and unknown types raise :class:`RDataError`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "RDataError", "RObject", "RSymbol", "RPairlist", "NULL",
    "unserialize", "decompress_chunk", "read_rdx", "read_lazyload", "read_rda",
]


class RDataError(ValueError):
    """Input that is not (supported) R serialised data."""


@dataclass
class RObject:
    """An R object: ``rtype`` names the SEXP type, ``value`` is its Python payload.

    Payloads: ``str``/``None`` (NA) lists for character vectors, ``int``/``None`` lists for
    integer and logical vectors (logical values are ``True``/``False``/``None``), ``float`` lists
    for doubles, ``bytes`` for raw vectors, lists of R values for lists, ``dict`` for environments.
    """

    rtype: str
    value: Any
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str | None] | None:
        names = self.attributes.get("names")
        return names.value if isinstance(names, RObject) else None

    def __getitem__(self, key: str) -> Any:
        """Element of a named list or vector by name."""
        names = self.names
        if names is None or key not in names:
            raise KeyError(key)
        return self.value[names.index(key)]

    def __len__(self) -> int:
        return len(self.value)


@dataclass(frozen=True)
class RSymbol:
    name: str


@dataclass
class RPairlist:
    """A pairlist (also language objects, closures and promises): ``items`` of (tag, value)."""

    rtype: str
    items: list[tuple[str | None, Any]]
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str | None, Any]:
        return dict(self.items)


class _Null:
    _instance = None

    def __new__(cls):  # one NULL, compared with `is`
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NULL"

    def __bool__(self) -> bool:
        return False


NULL = _Null()

# SEXP types (Rinternals.h) and the pseudo-types used only in serialisation (serialize.c).
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP = 7, 8, 9, 10, 13, 14, 15
STRSXP, DOTSXP, VECSXP, EXPRSXP, BCODESXP, EXTPTRSXP, WEAKREFSXP = 16, 17, 19, 20, 21, 22, 23
RAWSXP, S4SXP = 24, 25
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP = 255, 254, 253, 252, 251
BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP, PERSISTSXP = 250, 249, 248, 247
CLASSREFSXP, GENERICREFSXP, BCREPDEF, EMPTYENV_SXP, BASEENV_SXP = 246, 245, 244, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 240, 239, 238

IS_OBJECT_BIT, HAS_ATTR_BIT, HAS_TAG_BIT = 1 << 8, 1 << 9, 1 << 10
# CHARSXP encoding flags, in `levels`.
BYTES_MASK, LATIN1_MASK, UTF8_MASK, ASCII_MASK = 1 << 1, 1 << 2, 1 << 3, 1 << 6

NA_INTEGER = -(2 ** 31)
_PAIR_TYPES = {LISTSXP: "pairlist", LANGSXP: "language", CLOSXP: "closure", PROMSXP: "promise",
               DOTSXP: "dots", ATTRLISTSXP: "pairlist", ATTRLANGSXP: "language"}
_SPECIAL_ENVS = {GLOBALENV_SXP: "R_GlobalEnv", EMPTYENV_SXP: "R_EmptyEnv", BASEENV_SXP: "R_BaseEnv",
                 BASENAMESPACE_SXP: "R_BaseNamespace", UNBOUNDVALUE_SXP: "R_UnboundValue",
                 MISSINGARG_SXP: "R_MissingArg"}


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.refs: list[Any] = []
        self.native_encoding = "UTF-8"

    # -- primitives ---------------------------------------------------------------------------
    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise RDataError(f"truncated R data: wanted {n} bytes at offset {self.pos}, "
                             f"have {len(self.data) - self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:  # long vector: two more words
            hi, lo = struct.unpack(">II", self.take(8))
            n = (hi << 32) | lo
        if n < 0:
            raise RDataError(f"bad vector length {n} at offset {self.pos}")
        return n

    def ints(self, n: int) -> list[int | None]:
        vals = struct.unpack(f">{n}i", self.take(4 * n))
        return [None if v == NA_INTEGER else v for v in vals]

    def doubles(self, n: int) -> list[float]:
        return list(struct.unpack(f">{n}d", self.take(8 * n)))

    # -- items --------------------------------------------------------------------------------
    def header(self) -> None:
        fmt = self.take(2)
        if fmt != b"X\n":
            kind = {b"A\n": "ASCII", b"B\n": "native binary"}.get(fmt)
            raise RDataError(f"not XDR-serialised R data (format {kind or repr(fmt)}); only XDR is supported")
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal reader R version
        if version == 3:
            self.native_encoding = self.take(self.int()).decode("ascii", "replace")
        elif version != 2:
            raise RDataError(f"unsupported R serialisation version {version}")

    def charsxp(self, levels: int) -> str | None:
        n = self.int()
        if n == -1:
            return None  # NA_character_
        raw = self.take(n)
        if levels & LATIN1_MASK:
            return raw.decode("latin-1")
        if levels & BYTES_MASK:
            return raw.decode("utf-8", "surrogateescape")
        # UTF-8 or ASCII flagged, or native: packages built on Debian are UTF-8.
        native_latin1 = self.native_encoding.upper() in ("LATIN1", "ISO-8859-1")
        encoding = "latin-1" if native_latin1 and not levels & UTF8_MASK else "utf-8"
        return raw.decode(encoding, "surrogateescape")

    def attributes(self, flags: int) -> dict[str, Any]:
        if not flags & HAS_ATTR_BIT:
            return {}
        attr = self.item()
        if isinstance(attr, RPairlist):
            return {(tag if tag is not None else f"[[{i}]]"): val for i, (tag, val) in enumerate(attr.items)}
        return {}

    def persistent_strings(self) -> list[str | None]:
        if self.int() != 0:
            raise RDataError("bad persistent string vector")
        return [self.item() for _ in range(self.length())]

    def item(self) -> Any:
        flags = self.int()
        stype = flags & 0xFF
        levels = flags >> 12

        if stype == NILVALUE_SXP:
            return NULL
        if stype in _SPECIAL_ENVS:
            return RSymbol(_SPECIAL_ENVS[stype])
        if stype == REFSXP:
            index = flags >> 8 or self.int()
            if not 0 < index <= len(self.refs):
                raise RDataError(f"bad reference {index} (have {len(self.refs)})")
            return self.refs[index - 1]
        if stype in (PERSISTSXP, NAMESPACESXP, PACKAGESXP):
            kind = {PERSISTSXP: "persistent", NAMESPACESXP: "namespace", PACKAGESXP: "package"}[stype]
            obj = RObject(kind, self.persistent_strings())
            self.refs.append(obj)
            return obj
        if stype == SYMSXP:
            name = self.item()  # a CHARSXP
            sym = RSymbol(name if isinstance(name, str) else "")
            self.refs.append(sym)
            return sym
        if stype == ENVSXP:
            self.int()  # locked
            env = RObject("environment", {})
            self.refs.append(env)
            enclos = self.item()
            frame = self.item()
            hashtab = self.item()
            attr = self.item()
            env.value["__enclos__"] = enclos
            for part in (frame,) + tuple(hashtab.value if isinstance(hashtab, RObject) else ()):
                if isinstance(part, RPairlist):
                    env.value.update((t, v) for t, v in part.items if t is not None)
            if isinstance(attr, RPairlist):
                env.attributes = {t: v for t, v in attr.items if t is not None}
            return env
        if stype in _PAIR_TYPES:
            return self.pairlist(flags)
        if stype == CHARSXP:
            return self.charsxp(levels)
        if stype in (SPECIALSXP, BUILTINSXP):
            return RObject("builtin", self.take(self.int()).decode("ascii", "replace"))
        if stype == EXTPTRSXP:
            obj = RObject("externalptr", None)
            self.refs.append(obj)
            obj.value = (self.item(), self.item())  # protected value, tag
            obj.attributes = self.attributes(flags)
            return obj
        if stype == WEAKREFSXP:
            obj = RObject("weakref", None)
            self.refs.append(obj)
            obj.attributes = self.attributes(flags)
            return obj
        if stype == ALTREP_SXP:
            return self.altrep()
        if stype == S4SXP:
            return RObject("S4", None, self.attributes(flags))

        if stype in (LGLSXP, INTSXP):
            vals = self.ints(self.length())
            if stype == LGLSXP:
                vals = [None if v is None else bool(v) for v in vals]
            obj = RObject("logical" if stype == LGLSXP else "integer", vals)
        elif stype == REALSXP:
            obj = RObject("double", self.doubles(self.length()))
        elif stype == CPLXSXP:
            flat = self.doubles(2 * self.length())
            obj = RObject("complex", [complex(a, b) for a, b in zip(flat[::2], flat[1::2])])
        elif stype == STRSXP:
            n = self.length()
            vals = []
            for _ in range(n):
                el_flags = self.int()
                if el_flags & 0xFF != CHARSXP:
                    raise RDataError(f"character vector element of type {el_flags & 0xFF} at offset {self.pos - 4}")
                vals.append(self.charsxp(el_flags >> 12))
            obj = RObject("character", vals)
        elif stype in (VECSXP, EXPRSXP):
            n = self.length()
            obj = RObject("list" if stype == VECSXP else "expression", [self.item() for _ in range(n)])
        elif stype == RAWSXP:
            obj = RObject("raw", self.take(self.length()))
        elif stype == BCODESXP:
            raise RDataError("R byte code is not supported (this reader is for datasets, not functions)")
        else:
            raise RDataError(f"unsupported R type {stype} at offset {self.pos - 4}")
        obj.attributes = self.attributes(flags)
        return obj

    def pairlist(self, flags: int) -> RPairlist:
        """Pairlist-like cells, iteratively along the CDR so long lists don't recurse."""
        head = RPairlist(_PAIR_TYPES[flags & 0xFF], [])
        cell_flags, first = flags, True
        while True:
            stype = cell_flags & 0xFF
            if stype not in _PAIR_TYPES:
                raise RDataError(f"pairlist cell of type {stype}")
            attr = self.attributes(cell_flags)
            if first:
                head.attributes, first = attr, False
            tag = self.item() if cell_flags & HAS_TAG_BIT else None
            car = self.item()
            head.items.append((tag.name if isinstance(tag, RSymbol) else None, car))
            cell_flags = self.int()  # the CDR
            if cell_flags & 0xFF == NILVALUE_SXP:
                return head
            if cell_flags & 0xFF not in _PAIR_TYPES:  # dotted pair / unusual CDR: read and keep it
                self.pos -= 4
                head.items.append((None, self.item()))
                return head

    def altrep(self) -> Any:
        info = self.item()
        state = self.item()
        attr = self.item()
        first = info.items[0][1] if isinstance(info, RPairlist) and info.items else None
        cls = first.name if isinstance(first, RSymbol) else "?"
        if cls in ("compact_intseq", "compact_realseq") and isinstance(state, RObject):
            n, start, step = state.value[:3]
            n = int(n)
            if cls == "compact_intseq":
                obj = RObject("integer", [int(start + i * step) for i in range(n)])
            else:
                obj = RObject("double", [start + i * step for i in range(n)])
        elif cls.startswith("wrap_") and isinstance(state, RObject) and state.value:
            inner = state.value[0]
            obj = RObject(inner.rtype, inner.value, dict(inner.attributes)) if isinstance(inner, RObject) else inner
        elif cls == "deferred_string" and isinstance(state, RPairlist) and state.items:
            arg = state.items[0][1]
            if not isinstance(arg, RObject):
                raise RDataError("deferred_string ALTREP without a vector")
            obj = RObject("character", [None if v is None or (isinstance(v, float) and math.isnan(v))
                                        else _r_number_string(v) for v in arg.value])
        else:
            raise RDataError(f"unsupported ALTREP class {cls!r}")
        if isinstance(obj, RObject) and isinstance(attr, RPairlist):
            obj.attributes.update((t, v) for t, v in attr.items if t is not None)
        return obj


def _r_number_string(v: Any) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def unserialize(data: bytes) -> Any:
    """Decode one XDR-serialised R object (the output of R's ``serialize(x, NULL)``)."""
    reader = _Reader(data)
    reader.header()
    return reader.item()


def decompress_chunk(blob: bytes) -> bytes:
    """One lazy-load chunk: 4-byte big-endian length, then zlib (or a type byte and payload)."""
    if len(blob) < 5:
        raise RDataError(f"lazy-load chunk of {len(blob)} bytes is too short")
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
    except (zlib.error, OSError, lzma.LZMAError) as err:
        raise RDataError(f"cannot decompress lazy-load chunk: {err}") from None
    if len(out) != expected:
        raise RDataError(f"lazy-load chunk decompressed to {len(out)} bytes, header says {expected}")
    return out


def _decompress_file(data: bytes) -> bytes:
    """gzip/bzip2/xz by magic number, else R's length-prefixed chunk format, else as is."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    if data[:2] in (b"X\n", b"RD"):
        return data
    return decompress_chunk(data)


def read_rdx(path: Path) -> dict[str, tuple[int, int]]:
    """The ``variables`` index of a ``.rdx`` file: object name -> (offset, length) in the ``.rdb``."""
    index = unserialize(_decompress_file(Path(path).read_bytes()))
    if not isinstance(index, RObject) or index.names is None or "variables" not in index.names:
        raise RDataError(f"{path} is not a lazy-load index (no 'variables' entry)")
    variables = index["variables"]
    out = {}
    for name, where in zip(variables.names or [], variables.value):
        if not isinstance(where, RObject) or len(where.value) < 2:
            raise RDataError(f"{path}: bad index entry for {name!r}")
        offset, length = (int(v) for v in where.value[:2])
        out[name] = (offset, length)
    return out


def read_lazyload(rdx: Path, rdb: Path | None = None, names: list[str] | None = None) -> dict[str, Any]:
    """Objects of a lazy-load database by name: all, or only ``names`` (others are not decoded).

    ``rdb`` defaults to the ``.rdb`` file beside ``rdx``.
    """
    rdx = Path(rdx)
    rdb = Path(rdb) if rdb is not None else rdx.with_suffix(".rdb")
    index = read_rdx(rdx)
    if names is not None:
        missing = sorted(set(names) - set(index))
        if missing:
            raise RDataError(f"{rdx} has no object(s) {', '.join(missing)} (it has {', '.join(sorted(index))})")
        index = {name: index[name] for name in names}
    blob = rdb.read_bytes()
    objects = {}
    for name, (offset, length) in index.items():
        if offset + length > len(blob):
            raise RDataError(f"{rdb}: object {name!r} at {offset}+{length} lies past the end ({len(blob)} bytes)")
        objects[name] = unserialize(decompress_chunk(blob[offset:offset + length]))
    return objects


def read_rda(data: bytes) -> dict[str, Any]:
    """Objects of an ``.rda``/``.RData`` file made by ``save()`` (RDX2/RDX3, any compression)."""
    data = _decompress_file(data)
    if data[:5] not in (b"RDX2\n", b"RDX3\n"):
        raise RDataError("not an XDR .rda file (expected an RDX2/RDX3 header)")
    saved = unserialize(data[5:])
    if not isinstance(saved, RPairlist):
        raise RDataError(".rda file does not hold a pairlist of objects")
    return {tag: value for tag, value in saved.items if tag is not None}
