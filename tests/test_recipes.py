"""The bundled corpora's recipes (austen, mdn-bcd) and the R lazy-load reader, on tiny inputs built here.

No network, no registry clients: `pytest tests/test_recipes.py`. The R data is written by a small
XDR serialiser below and read back through the ``rdata`` package, so the lazy-load container code
is checked against an independent parser.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import runpy
import struct
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from charnn.corpus import document_paths
from charnn.recipes import RECIPES, RecipeError, austen, lazyload, mdn, sources
from charnn.recipes.documents import corpus_digest

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


def write_lazyload(folder: Path, books: dict[str, list[str | None]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rdx, rdb = fake_lazyload(books)
    (folder / "Rdata.rdx").write_bytes(rdx)
    (folder / "Rdata.rdb").write_bytes(rdb)
    return folder / "Rdata.rdx"


# -- the lazy-load container ------------------------------------------------------------------------

def test_lazyload_roundtrip(tmp_path):
    rdx, rdb = fake_lazyload({"one": ["a", "b"], "two": ["c", "", None, "é"]})
    assert set(lazyload.read_index(rdx)) == {"one", "two"}
    objs = lazyload.read_lazyload(rdx, rdb, ["two", "absent"])
    assert list(objs) == ["two"]
    assert lazyload.character_vector(objs["two"]) == ["c", "", None, "é"]
    assert lazyload.character_vector({"not": "a vector"}) is None


def test_chunk_compression_types():
    raw = header() + strsxp(["hi"])
    n = struct.pack(">I", len(raw))
    for chunk in (n + zlib.compress(raw), n + b"Z" + zlib.compress(raw), n + b"0" + raw,
                  n + b"2" + bz2.compress(raw), n + b"X" + lzma.compress(raw)):
        assert lazyload.decompress_chunk(chunk) == raw
    with pytest.raises(RecipeError, match="header says"):
        lazyload.decompress_chunk(struct.pack(">I", len(raw) + 1) + zlib.compress(raw))


def test_damaged_lazyload_names_the_file(tmp_path):
    rdx, rdb = fake_lazyload({"emma": ["x" * 100]})
    with pytest.raises(RecipeError, match="the.rdb: object 'emma' .* truncated"):
        lazyload.read_lazyload(rdx, rdb[:-3], ["emma"], rdb_name="the.rdb")
    with pytest.raises(RecipeError, match="the.rdx"):
        lazyload.read_index(b"\x1f\x8bnot gzip at all", "the.rdx")
    corrupt = bytearray(rdb)
    corrupt[10] ^= 0xFF  # inside the zlib stream: its checksum fails
    with pytest.raises(RecipeError, match="cannot decompress"):
        lazyload.read_lazyload(rdx, bytes(corrupt), ["emma"])


def test_without_rdata_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdata", None)  # import rdata now raises ImportError
    with pytest.raises(RecipeError, match=r"needs the rdata package: pip install rdata"):
        austen.build(tmp_path / "out", write_lazyload(tmp_path / "in", BOOKS))


# -- austen -----------------------------------------------------------------------------------------

def _fake_deb(path: Path, files: dict[str, bytes]) -> Path:
    from test_corpus_recipes import fake_deb  # one .deb builder for both recipe test files
    return fake_deb(path, files, package="r-cran-janeaustenr", version="9.9-1")


def test_austen_build_from_deb_folder_and_tarball(tmp_path):
    rdx, rdb = fake_lazyload(BOOKS)
    lib = "./usr/lib/R/site-library/janeaustenr/"
    deb = _fake_deb(tmp_path / "fake.deb", {lib + "data/Rdata.rdx": rdx, lib + "data/Rdata.rdb": rdb,
                                            lib + "DESCRIPTION": b"Package: janeaustenr\nVersion: 9.9\n"})
    out = austen.build(tmp_path / "austen", deb)
    names = sorted(p.name for p in document_paths(out))
    assert names == sorted(austen.BOOKS.values())
    text = (out / "02-pride-and-prejudice.txt").read_text(encoding="utf-8")
    assert text == 'PRIDEPREJUDICE\n\nShe said, "Yes\nindeed." And\nleft.\n£5\n'
    assert (out / "04-emma.txt").read_text(encoding="utf-8").endswith("left.\n\n")  # NA line: empty
    assert "Debian r-cran-janeaustenr 9.9-1" in (out / "NOTICE").read_text(encoding="utf-8")

    write_lazyload(tmp_path / "unpacked" / "janeaustenr" / "data", BOOKS)
    (tmp_path / "unpacked" / "janeaustenr" / "DESCRIPTION").write_text("Version: 9.8\n")
    out2 = austen.build(tmp_path / "austen2", tmp_path / "unpacked")
    assert corpus_digest(out2) == corpus_digest(out)
    assert "janeaustenr 9.8" in (out2 / "NOTICE").read_text(encoding="utf-8")
    tgz = tmp_path / "janeaustenr_9.7.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "unpacked" / "janeaustenr", arcname="janeaustenr")
    assert corpus_digest(austen.build(tmp_path / "austen3", tgz)) == corpus_digest(out)


def test_austen_missing_book_and_client(tmp_path, monkeypatch):
    rdx = write_lazyload(tmp_path, {"emma": ["x"]})
    with pytest.raises(RecipeError, match="novels .*persuasion not found"):
        austen.build(tmp_path / "out", rdx)
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    with pytest.raises(RecipeError) as err:
        austen.build(tmp_path / "out", None)
    assert str(err.value).startswith(sources.fetch_failed("apt"))
    assert "charnn corpus build austen --from r-cran-janeaustenr_*.deb" in str(err.value)
    with pytest.raises(RecipeError) as err:
        mdn.build(tmp_path / "out", None)
    assert str(err.value).startswith("npm is not available (or the package could not be downloaded): "
                                     "pass --from PATH with a local .tgz, folder or data file")
    assert "--from mdn-browser-compat-data-*.tgz" in str(err.value)


def test_fetch_runs_the_client_in_a_temporary_folder(tmp_path, monkeypatch):
    rdx, rdb = fake_lazyload(BOOKS)
    lib = "./usr/lib/R/site-library/janeaustenr/data/"
    deb = _fake_deb(tmp_path / "r-cran-janeaustenr_9.9-1_all.deb", {lib + "Rdata.rdx": rdx, lib + "Rdata.rdb": rdb})
    (tmp_path / "bin").mkdir()
    client = tmp_path / "bin" / "apt-get"  # a stand-in for apt-get: copies the .deb where it runs
    client.write_text(f'#!/bin/sh\n[ "$*" = "download r-cran-janeaustenr" ] || exit 100\n'
                      f'cp "{deb}" . && pwd > "{tmp_path}/ran-in"\n')
    client.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    out = austen.build(tmp_path / "out")
    assert "Debian r-cran-janeaustenr 9.9-1" in (out / "NOTICE").read_text(encoding="utf-8")
    assert corpus_digest(out) == corpus_digest(austen.build(tmp_path / "out2", deb))
    ran_in = Path((tmp_path / "ran-in").read_text().strip())
    assert ran_in.name.startswith("charnn-austen-") and not ran_in.exists()  # the download is cleaned up
    with pytest.raises(RecipeError, match="exited with 100"):
        with sources.recipe_input("x", None, "apt", "no-such-package", "a .deb"):
            pass


def test_austen_from_rda(tmp_path):
    w = Writer()
    cells = b"".join(i32(2 | 1 << 10) + w.symbol(key) + strsxp(lines) for key, lines in BOOKS.items())
    (tmp_path / "all.rda").write_bytes(gzip.compress(b"RDX3\n" + header() + cells + i32(254)))
    assert lazyload.read_rda((tmp_path / "all.rda").read_bytes())["emma"].tolist() == BOOKS["emma"]
    out = austen.build(tmp_path / "out", tmp_path / "all.rda")
    rdx = write_lazyload(tmp_path / "lazy", BOOKS)
    assert corpus_digest(out) == corpus_digest(austen.build(tmp_path / "out2", rdx))


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
    assert sorted(p.name for p in document_paths(out)) == sorted(f"{s}.json" for s in mdn.SECTIONS)
    http = (out / "http.json").read_text(encoding="utf-8")
    assert json.loads(http) == {"http": data["http"]} and http.startswith('{\n  "http": {') and "#é" in http
    assert "0.0.2" in (out / "NOTICE").read_text(encoding="utf-8")
    assert mdn.stats(out)["urls"] == str(2 * len(mdn.SECTIONS))
    with tarfile.open(tmp_path / "bcd.tgz") as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert corpus_digest(mdn.build(tmp_path / "mdn2", tmp_path / "unpacked")) == corpus_digest(out)
    assert corpus_digest(mdn.build(tmp_path / "mdn3", tmp_path / "unpacked/package/data.json")) == corpus_digest(out)
    with pytest.raises(RecipeError, match="lacks section"):
        mdn.render({"http": {}})


def test_module_entry_point_is_corpus_build(tmp_path, monkeypatch, capsys):
    assert {"austen", "mdn-bcd"} <= set(RECIPES)
    (tmp_path / "data.json").write_text(json.dumps({s: {} for s in mdn.SECTIONS}))
    out = tmp_path / "o"
    monkeypatch.setattr(sys, "argv", ["charnn.recipes", "mdn-bcd", "--out", str(out), "--from", str(tmp_path / "data.json")])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("charnn.recipes", run_name="__main__")
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert f"sha256    {corpus_digest(out)[1]}" in printed and "CC0" in printed and "built in" in printed
    monkeypatch.setattr(sys, "argv", ["charnn.recipes", "austen", "--out", str(tmp_path / "a"),
                                      "--from", str(tmp_path / "nope.deb")])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("charnn.recipes", run_name="__main__")
    assert done.value.code == 2 and "nope.deb does not exist" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
