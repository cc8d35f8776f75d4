"""Corpus recipes on tiny synthetic inputs built here: no network, no registry clients."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zlib
from pathlib import Path

import pytest

from charnn.recipes import RECIPES, _common, _rdata, austen, mdn

# -- a minimal XDR serialiser for R objects, enough to fake the janeaustenr data ------------------

ASCII_LEVEL, UTF8_LEVEL = 64, 8


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def header(version: int = 3) -> bytes:
    out = b"X\n" + i32(version) + i32(0x040201) + i32(0x030500)
    return out + (i32(5) + b"UTF-8" if version == 3 else b"")


def charsxp(s: str | None) -> bytes:
    if s is None:
        return i32(9) + i32(-1)
    raw = s.encode("utf-8")
    level = ASCII_LEVEL if s.isascii() else UTF8_LEVEL
    return i32(9 | level << 12) + i32(len(raw)) + raw


def strsxp(values: list[str | None]) -> bytes:
    return i32(16) + i32(len(values)) + b"".join(charsxp(v) for v in values)


def intsxp(values: list[int]) -> bytes:
    return i32(13) + i32(len(values)) + b"".join(i32(v) for v in values)


class Writer:
    """Serialises named lists; the symbol `names` is written once, then referenced (REFSXP)."""

    def __init__(self) -> None:
        self.symbols: list[str] = []

    def symbol(self, name: str) -> bytes:
        if name in self.symbols:
            return i32((self.symbols.index(name) + 1) << 8 | 255)
        self.symbols.append(name)
        return i32(1) + charsxp(name)

    def named_list(self, items: dict[str, bytes]) -> bytes:
        body = i32(19 | 1 << 9) + i32(len(items)) + b"".join(items.values())
        attrs = i32(2 | 1 << 10) + self.symbol("names") + strsxp(list(items)) + i32(254)
        return body + attrs


def fake_lazyload(books: dict[str, list[str]]) -> tuple[bytes, bytes]:
    """(.rdx, .rdb) bytes in R's lazy-load format for character vectors."""
    rdb, index = b"", {}
    for name, lines in books.items():
        raw = header() + strsxp(lines)
        chunk = struct.pack(">I", len(raw)) + zlib.compress(raw)
        index[name] = (len(rdb), len(chunk))
        rdb += chunk
    w = Writer()
    variables = w.named_list({k: intsxp(list(v)) for k, v in index.items()})
    rdx_obj = w.named_list({"variables": variables, "references": i32(254),
                            "compressed": i32(10) + i32(1) + i32(1)})
    return gzip.compress(header() + rdx_obj, mtime=0), rdb


BOOKS = {key: [key.upper(), "", 'She said, "Yes', "indeed.\" And", "left.", None if key == "emma" else "£5"]
         for key in austen.BOOKS}


def test_unserialize_vectors_and_refs():
    w = Writer()
    data = header(2) + w.named_list({"a": strsxp(["x", "", None, "é"]), "b": w.named_list({"c": intsxp([1, -2**31])})})
    obj = _rdata.unserialize(data)
    assert obj.names == ["a", "b"]
    assert obj["a"].value == ["x", "", None, "é"]
    assert obj["b"]["c"].value == [1, None]
    assert obj["b"].names == ["c"]  # via REFSXP to the `names` symbol


def test_unserialize_altrep_compact_intseq():
    w = Writer()
    info = (i32(2) + w.symbol("compact_intseq") + i32(2) + w.symbol("base") + i32(2) + intsxp([13])
            + i32(254))
    state = i32(14) + i32(3) + struct.pack(">3d", 4, 1, 1)
    obj = _rdata.unserialize(header() + i32(238) + info + state + i32(254))
    assert obj.rtype == "integer" and obj.value == [1, 2, 3, 4]


def test_unserialize_rejects_other_formats_and_truncation():
    with pytest.raises(_rdata.RDataError, match="ASCII"):
        _rdata.unserialize(b"A\n3\n")
    with pytest.raises(_rdata.RDataError, match="truncated"):
        _rdata.unserialize(header() + strsxp(["abc"])[:-1])


def test_chunk_compression_types():
    raw = header() + strsxp(["hi"])
    for chunk in (struct.pack(">I", len(raw)) + zlib.compress(raw),
                  struct.pack(">I", len(raw)) + b"Z" + zlib.compress(raw),
                  struct.pack(">I", len(raw)) + b"0" + raw):
        assert _rdata.unserialize(_rdata.decompress_chunk(chunk)).value == ["hi"]
    with pytest.raises(_rdata.RDataError, match="header says"):
        _rdata.decompress_chunk(struct.pack(">I", len(raw) + 1) + zlib.compress(raw))


def test_lazyload_roundtrip(tmp_path):
    rdx, rdb = fake_lazyload({"one": ["a", "b"], "two": ["c", ""]})
    (tmp_path / "Rdata.rdx").write_bytes(rdx)
    (tmp_path / "Rdata.rdb").write_bytes(rdb)
    assert set(_rdata.read_rdx(tmp_path / "Rdata.rdx")) == {"one", "two"}
    objs = _rdata.read_lazyload(tmp_path / "Rdata.rdx", names=["two"])
    assert list(objs) == ["two"] and objs["two"].value == ["c", ""]


def _fake_deb(path: Path, files: dict[str, bytes]) -> Path:
    from test_corpus_recipes import fake_deb  # one .deb builder for both recipe test files
    return fake_deb(path, files, package="r-cran-janeaustenr", version="9.9-1")


def test_austen_build_from_deb_and_folder(tmp_path):
    rdx, rdb = fake_lazyload(BOOKS)
    lib = "./usr/lib/R/site-library/janeaustenr/data/"
    deb = _fake_deb(tmp_path / "fake.deb", {lib + "Rdata.rdx": rdx, lib + "Rdata.rdb": rdb})
    out = austen.build(tmp_path / "austen", deb)
    names = sorted(p.name for p in _common.documents(out))
    assert names == sorted(austen.BOOKS.values())
    text = (out / "02-pride-and-prejudice.txt").read_text(encoding="utf-8")
    assert text == 'PRIDEPREJUDICE\n\nShe said, "Yes\nindeed." And\nleft.\n£5\n'
    assert (out / "04-emma.txt").read_text(encoding="utf-8").endswith("left.\n\n")
    assert "9.9-1" in (out / "NOTICE").read_text(encoding="utf-8")

    folder = tmp_path / "unpacked" / "janeaustenr" / "data"
    folder.mkdir(parents=True)
    (folder / "Rdata.rdx").write_bytes(rdx)
    (folder / "Rdata.rdb").write_bytes(rdb)
    out2 = austen.build(tmp_path / "austen2", tmp_path / "unpacked")
    assert _common.corpus_digest(out2) == _common.corpus_digest(out)


def test_austen_missing_book_and_client(tmp_path, monkeypatch):
    rdx, rdb = fake_lazyload({"emma": ["x"]})
    (tmp_path / "Rdata.rdx").write_bytes(rdx)
    (tmp_path / "Rdata.rdb").write_bytes(rdb)
    with pytest.raises(RuntimeError, match="persuasion"):
        austen.build(tmp_path / "out", tmp_path / "Rdata.rdx")
    monkeypatch.setattr(_common.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="source="):
        austen.build(tmp_path / "out", None)
    with pytest.raises(RuntimeError, match="source="):
        mdn.build(tmp_path / "out", None)


def test_austen_from_rda(tmp_path):
    w = Writer()
    pairlist = i32(2 | 1 << 10) + w.symbol("emma") + strsxp(["E", ""]) + i32(254)
    (tmp_path / "emma.rda").write_bytes(gzip.compress(b"RDX3\n" + header() + pairlist))
    assert _rdata.read_rda((tmp_path / "emma.rda").read_bytes())["emma"].value == ["E", ""]


def test_quote_fraction():
    # b, c and e of 10 chars are quoted; paragraph 2's unclosed quote runs to its end.
    assert austen.quote_fraction('a"bc"d\n\n"e') == pytest.approx(3 / 10)
    assert austen.quote_fraction('"a\n\nb') == pytest.approx(1 / 5)  # quotes reset at blank lines
    assert austen.quote_fraction("") == 0


def test_mdn_build_from_tgz(tmp_path):
    data = {"__meta": {"version": "0.0.1"}, "api": {"big": 1},
            **{s: {"x": {"__compat": {"mdn_url": f"https://developer.mozilla.org/{s}",
                                      "spec_url": "https://example.org/spec#é"}}} for s in mdn.SECTIONS}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, obj in {"package/data.json": data, "package/package.json": {"version": "0.0.2"}}.items():
            raw = json.dumps(obj).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    (tmp_path / "bcd.tgz").write_bytes(buf.getvalue())
    out = mdn.build(tmp_path / "mdn", tmp_path / "bcd.tgz")
    assert sorted(p.name for p in _common.documents(out)) == sorted(f"{s}.json" for s in mdn.SECTIONS)
    http = (out / "http.json").read_text(encoding="utf-8")
    assert json.loads(http) == {"http": data["http"]} and http.startswith('{\n  "http": {') and "#é" in http
    assert "0.0.2" in (out / "NOTICE").read_text(encoding="utf-8")
    assert mdn.stats(out)["urls"] == str(2 * len(mdn.SECTIONS))
    with pytest.raises(RuntimeError, match="lacks section"):
        mdn.render({"http": {}})


def test_registry_and_cli(tmp_path, capsys):
    from charnn.recipes.__main__ import main

    assert {"austen", "mdn-bcd"} <= set(RECIPES)
    (tmp_path / "data.json").write_text(json.dumps({s: {} for s in mdn.SECTIONS}))
    assert main(["mdn-bcd", "--out", str(tmp_path / "o"), "--from", str(tmp_path / "data.json")]) == 0
    printed = capsys.readouterr().out
    assert "sha256" in printed and "CC0" in printed
    assert main(["austen", "--out", str(tmp_path / "a"), "--from", str(tmp_path / "nope.deb")]) == 1
