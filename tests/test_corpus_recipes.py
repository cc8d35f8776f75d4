"""On-demand corpus recipes (linux, python-stdlib, debian-docs), the build cache and `charnn corpus`.

Everything here runs on tiny synthetic inputs built in the test: no network, no registry clients.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from charnn import cli
from charnn.corpus import CorpusError, is_document, load_corpus
from charnn.corpus import document_paths as documents
from charnn.recipes import RECIPES, RecipeError, cache, debian_docs, html_text, linux, python_stdlib, sources
from charnn.recipes.documents import BUILD_INFO, DocumentWriter, corpus_digest

FETCH_FAILED = sources.fetch_failed("apt")

# -- builders of fake inputs ----------------------------------------------------------------------

MAKEFILE = b"# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 7\nEXTRAVERSION =\nNAME = x\n"
KERNEL = {
    "Makefile": MAKEFILE,
    "COPYING": b"The Linux Kernel is provided under GPL-2.0 WITH Linux-syscall-note\n",
    "LICENSES/preferred/GPL-2.0": b"GNU GENERAL PUBLIC LICENSE Version 2\n",
    "kernel/fork.c": b'// SPDX-License-Identifier: GPL-2.0-only\n/* fork */\nint x = 1; /* "str" */\n',
    "kernel/sched/core.c": b'#include "sched.h"\nstatic char *s = "a\\tb";\n',
    "kernel/sched/sched.h": b"#ifndef SCHED_H\n#define SCHED_H\n#endif\n",
    "kernel/Kconfig": b"config FOO\n\tbool\n",          # not C: left out
    "kernel/nul.c": b"int a;\x00\n",                      # NUL bytes: skipped
    "kernel/empty.h": b"",                                # empty: skipped
    "mm/slab.c": b"/* slab */\nvoid *p;\n",
    "mm/latin1.c": b"/* (C) J\xf6rn Engel */\nint y;\n",   # Latin-1, not UTF-8: replaced
    "fs/open.c": b"int open;\n",                          # not a selected subsystem
}


def _tar_bytes(files: dict[str, bytes], mode: str = "w:xz", symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "fork.c"
            tar.addfile(info)
    return buf.getvalue()


def kernel_tarball(path: Path, root: str = "linux-6.1.7", mode: str = "w:xz") -> Path:
    files = {f"{root}/{name}" if root else name: data for name, data in KERNEL.items()}
    path.write_bytes(_tar_bytes(files, mode, symlink=f"{root}/kernel/link.c"))
    return path


def fake_deb(path: Path, files: dict[str, bytes], package: str = "pkg", version: str = "1.0-1") -> Path:
    members = {"debian-binary": b"2.0\n",
               "control.tar.xz": _tar_bytes({"./control": f"Package: {package}\nVersion: {version}\n".encode()}),
               "data.tar.xz": _tar_bytes(files)}
    out = b"!<arch>\n"
    for name, data in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.write_bytes(out)
    return path


@pytest.fixture
def kernel_tree(tmp_path) -> Path:
    root = tmp_path / "tree" / "linux-6.1.7"
    for name, data in KERNEL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return tmp_path / "tree"


@pytest.fixture
def stdlib_dir(tmp_path) -> Path:
    lib = tmp_path / "python3.99"
    files = {
        "os.py": b"import sys\n",
        "json/__init__.py": b'"""JSON."""\n',
        "json/decoder.py": b"# decoder\nx = 'caf\xc3\xa9'\n",
        "json/tests/test_json.py": b"assert 1\n",
        "test/test_os.py": b"assert 2\n",
        "idlelib/idle_test/test_x.py": b"assert 3\n",
        "site-packages/numpy/__init__.py": b"third party\n",
        "__pycache__/os.cpython-399.pyc": b"\x00\x01",
        "config-3.99-x86_64-linux-gnu/python-config.py": b"build\n",
        "_sysconfigdata__linux_x86_64-linux-gnu.py": b"build_time_vars = {}\n",
        "latin.py": b"# -*- coding: latin-1 -*-\ns = '\xe9'\n",
        "empty/__init__.py": b"",
        "LICENSE.txt": b"PSF LICENSE AGREEMENT FOR PYTHON\n",
        "README.txt": b"not a module\n",
    }
    for name, data in files.items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_bytes(data)
    return lib


PAGE1 = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter 1. Tutorials</title>
<link rel="next" href="ch02.en.html" title="Chapter 2"/></head>
<body><div class="navheader"><table><tr><td><a href="index.en.html">Prev</a></td></tr></table></div>
<div class="chapter"><h1 class="title"><a id="x"/>Chapter 1.   Tutorials</h1>
<div class="toc"><p>Table of Contents</p><a href="ch01.en.html#a">1.1. A</a></div>
<p>The <a class="ulink" href="https://www.debian.org">Debian   project</a> makes
   a <em>free</em> OS; see <a href="https://wiki.debian.org/">https://wiki.debian.org/</a>
   and <a href="ch02.en.html">Chapter 2</a>. Caf&eacute; &amp; more.</p>
<pre class="screen">$ ls -l
  total 0</pre>
<div class="itemizedlist"><ul><li><p>one <a href="http://a.example/x">A</a></p></li><li><p>two</p>
<ul><li>nested</li></ul></li></ul></div>
<table><tr><th>package</th><th>size</th></tr><tr><td><a href="http://p.example/dpkg">dpkg</a></td><td>5989</td></tr></table>
</div>
<div class="navfooter"><a href="ch02.en.html">Next</a></div></body></html>
"""
PAGE2 = """<html><head><title>Chapter 2</title></head><body><h1>Chapter 2. More</h1>
<p>Mail <a href="mailto:debian-user@lists.debian.org">the list</a>.</p></body></html>"""
INDEX = """<html><head><title>Debian Reference</title><link rel="next" href="ch01.en.html"/></head>
<body><h1>Debian Reference</h1><div class="toc"><a href="ch01.en.html">Chapter 1</a></div>
<p>Copyright 2013 Someone.</p></body></html>"""
DOCS = {"usr/share/debian-reference/index.en.html": INDEX.encode(),
        "usr/share/debian-reference/ch01.en.html": PAGE1.encode(),
        "usr/share/debian-reference/ch02.en.html": PAGE2.encode(),
        "usr/share/debian-reference/debian-reference.en.txt": b"The plain text version, unused when HTML exists.\n"}


# -- linux ------------------------------------------------------------------------------------------

def test_registry():
    assert {"linux", "python-stdlib", "debian-docs"} <= set(RECIPES)


def test_linux_from_tarball(tmp_path):
    out = linux.build(tmp_path / "out", kernel_tarball(tmp_path / "linux-6.1.7.tar.xz"))
    names = [p.relative_to(out).as_posix() for p in documents(out)]
    assert names == ["kernel/fork.c", "kernel/sched/core.c", "kernel/sched/sched.h", "mm/latin1.c", "mm/slab.c"]
    assert (out / "kernel/fork.c").read_bytes() == KERNEL["kernel/fork.c"]  # bytes unchanged
    assert (out / "mm/latin1.c").read_text(encoding="utf-8") == "/* (C) J\ufffdrn Engel */\nint y;\n"
    assert (out / "COPYING").read_bytes() == KERNEL["COPYING"]
    assert (out / "COPYING.GPL-2.0").is_file()
    info = json.loads((out / BUILD_INFO).read_text())
    assert info["kernel_version"] == "6.1.7"
    assert (info["files"], info["nul"], info["non_utf8"], info["empty"]) == (5, 1, 1, 1)
    assert info["per_subsystem"]["mm"]["files"] == 2
    assert "GPL-2.0" in (out / "NOTICE").read_text()
    corpus = load_corpus(out)  # strict UTF-8, no NUL: loads as is
    assert [d.name for d in corpus.documents] == names


def test_linux_tree_deb_and_subsystems(tmp_path, kernel_tree):
    tarball = kernel_tarball(tmp_path / "k.tar.gz", mode="w:gz")
    reference = corpus_digest(linux.build(tmp_path / "a", tarball))
    assert corpus_digest(linux.build(tmp_path / "b", kernel_tree)) == reference  # unpacked tree (one level up)
    assert corpus_digest(linux.build(tmp_path / "c", kernel_tree / "linux-6.1.7")) == reference
    inner = kernel_tarball(tmp_path / "inner.tar.xz", root="linux-source-6.1")
    deb = fake_deb(tmp_path / "linux-source-6.1_6.1.7-1_all.deb",
                   {"./usr/share/doc/linux-source-6.1/copyright": b"c\n",
                    "./usr/src/linux-source-6.1.tar.xz": inner.read_bytes()},
                   package="linux-source-6.1", version="6.1.7-1")
    out = linux.build(tmp_path / "d", deb)
    assert corpus_digest(out) == reference
    assert "Debian linux-source-6.1 6.1.7-1" in json.loads((out / BUILD_INFO).read_text())["source"]
    only = linux.build(tmp_path / "e", tarball, subsystems="kernel/sched,")
    assert [p.name for p in documents(only)] == ["core.c", "sched.h"]
    with pytest.raises(RecipeError, match="no .c or .h files"):
        linux.build(tmp_path / "f", tarball, subsystems=("drivers",))
    with pytest.raises(RecipeError, match="not a folder"):
        linux.normalize_subsystems(["../etc"])
    (tmp_path / "not-a-kernel" / "docs").mkdir(parents=True)
    with pytest.raises(RecipeError, match="none of the folders"):
        linux.build(tmp_path / "g", tmp_path / "not-a-kernel")
    skip = linux.build(tmp_path / "h", tarball, non_utf8="skip")
    assert not (skip / "mm/latin1.c").exists()


def test_deb_stream_reads_without_loading(tmp_path):
    deb = fake_deb(tmp_path / "x.deb", {"./a/b.txt": b"hello"}, package="x", version="2")
    assert sources.deb_control(deb) == {"Package": "x", "Version": "2"}
    with sources.deb_stream(deb) as tar:
        assert [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()] == [("./a/b.txt", b"hello")]
    (tmp_path / "no.deb").write_bytes(b"nope")
    with pytest.raises(RecipeError, match="not a .deb"):
        sources.deb_control(tmp_path / "no.deb")


def test_damaged_archives_name_the_file(tmp_path, stdlib_dir):
    inner = kernel_tarball(tmp_path / "inner.tar.xz", root="linux-source-6.1")
    deb = fake_deb(tmp_path / "k.deb", {"./usr/src/linux-source-6.1.tar.xz": inner.read_bytes()})
    cut = tmp_path / "cut.deb"
    cut.write_bytes(deb.read_bytes()[:-200])  # the kernel tarball inside ends early
    with pytest.raises(RecipeError, match="cut.deb is damaged or truncated .*download it again"):
        linux.build(tmp_path / "a", cut)
    tgz = tmp_path / "lib.tgz"
    tgz.write_bytes(_tar_bytes({f"lib/{p.relative_to(stdlib_dir)}": p.read_bytes()
                                for p in stdlib_dir.rglob("*") if p.is_file()}, "w:gz")[:300])
    for recipe in (linux, python_stdlib, debian_docs):
        with pytest.raises(RecipeError, match="lib.tgz is damaged or truncated"):
            recipe.build(tmp_path / recipe.NAME, tgz)


# -- python-stdlib ------------------------------------------------------------------------------------

def test_python_stdlib_from_folder(tmp_path, stdlib_dir):
    out = python_stdlib.build(tmp_path / "out", stdlib_dir)
    names = [p.relative_to(out).as_posix() for p in documents(out)]
    assert names == ["json/__init__.py", "json/decoder.py", "latin.py", "os.py"]
    assert (out / "latin.py").read_text(encoding="utf-8") == "# -*- coding: latin-1 -*-\ns = '\ufffd'\n"
    assert (out / "LICENSE").read_text().startswith("PSF")
    info = json.loads((out / BUILD_INFO).read_text())
    assert (info["files"], info["non_utf8"], info["empty"], info["tests_left_out"]) == (4, 1, 1, 3)
    with_tests = python_stdlib.build(tmp_path / "t", stdlib_dir, include_tests=True)
    assert len(documents(with_tests)) == 7
    # A CPython source tarball: its Lib/ folder is the library.
    tgz = tmp_path / "Python-3.99.tgz"
    files = {f"Python-3.99/Lib/{p.relative_to(stdlib_dir).as_posix()}": p.read_bytes()
             for p in stdlib_dir.rglob("*") if p.is_file()}
    files["Python-3.99/Tools/x.py"] = b"not the library\n"
    files["Python-3.99/LICENSE"] = b"PSF LICENSE AGREEMENT FOR PYTHON\n"
    tgz.write_bytes(_tar_bytes(files, "w:gz"))
    assert corpus_digest(python_stdlib.build(tmp_path / "z", tgz)) == corpus_digest(out)


def test_python_stdlib_default_and_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(python_stdlib, "default_source", lambda: tmp_path / "nowhere")
    with pytest.raises(RecipeError, match="--from PATH"):
        python_stdlib.build(tmp_path / "out")
    with pytest.raises(RecipeError, match="does not exist"):
        python_stdlib.build(tmp_path / "out", tmp_path / "missing")
    assert python_stdlib.wanted("json/decoder.py") and not python_stdlib.wanted("unittest/test/test_case.py")
    assert python_stdlib.wanted("unittest/test/test_case.py", include_tests=True)


# -- debian-docs --------------------------------------------------------------------------------------

def test_html_to_text():
    text, nxt, title = html_text.html_to_text(PAGE1)
    assert (nxt, title) == ("ch02.en.html", "Chapter 1. Tutorials")
    assert text == (
        "Chapter 1. Tutorials\n\n"
        "The Debian project <https://www.debian.org> makes a free OS; see\n"
        "https://wiki.debian.org/ and Chapter 2. Café & more.\n\n"
        "$ ls -l\n  total 0\n\n"
        "* one A <http://a.example/x>\n"
        "* two\n"
        "  * nested\n\n"
        "package | size\n"
        "dpkg <http://p.example/dpkg> | 5989\n")
    assert "Table of Contents" not in text and "Prev" not in text and "Next" not in text
    unwrapped, _, _ = html_text.html_to_text(PAGE1, width=0)
    assert "makes a free OS; see https://wiki.debian.org/ and Chapter 2." in unwrapped


def test_debian_docs_from_folder_and_deb(tmp_path):
    folder = tmp_path / "debian-reference"
    for name, data in DOCS.items():
        (folder / Path(name).name).parent.mkdir(parents=True, exist_ok=True)
        (folder / Path(name).name).write_bytes(data)
    out = debian_docs.build(tmp_path / "out", folder)
    names = [p.relative_to(out).as_posix() for p in documents(out)]
    # reading order from the rel="next" links: index -> ch01 -> ch02; the .txt is ignored
    assert names == ["debian-reference/00-index.txt", "debian-reference/01-ch01.txt", "debian-reference/02-ch02.txt"]
    assert (out / names[2]).read_text() == "Chapter 2. More\n\nMail the list <mailto:debian-user@lists.debian.org>.\n"
    assert debian_docs.stats(out)["urls"] == "4"
    deb = fake_deb(tmp_path / "debian-reference-en_2.100_all.deb", {"./" + k: v for k, v in DOCS.items()},
                   package="debian-reference-en", version="2.100")
    out2 = debian_docs.build(tmp_path / "out2", deb)
    assert [p.relative_to(out2).as_posix().split("/", 1)[1] for p in documents(out2)] == \
        [n.split("/", 1)[1] for n in names]
    assert "debian-reference-en 2.100" in (out2 / "NOTICE").read_text()
    text_only = tmp_path / "text"
    text_only.mkdir()
    (text_only / "guide.txt").write_bytes(b"Plain guide <https://example.org>\n")
    out3 = debian_docs.build(tmp_path / "out3", text_only)
    assert (out3 / "text/00-guide.txt").read_text() == "Plain guide <https://example.org>\n"


# -- missing sources --------------------------------------------------------------------------------

def test_missing_client_fails_clearly(tmp_path, monkeypatch):
    assert FETCH_FAILED == ("apt-get is not available (or the package could not be downloaded): "
                            "pass --from PATH with a local .deb, tarball or folder")
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    for recipe in (linux, debian_docs):
        with pytest.raises(RecipeError) as err:
            recipe.build(tmp_path / recipe.NAME)
        assert str(err.value).startswith(FETCH_FAILED) and "not installed" in str(err.value)
    # apt-get present but the download fails (no network, unknown package)
    monkeypatch.setattr(sources.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(sources.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(
        argv, 100, "", "E: Unable to locate package linux-source-6.1\n"))
    with pytest.raises(RecipeError, match="exited with 100: E: Unable to locate") as err:
        linux.build(tmp_path / "l2")
    assert str(err.value).startswith(FETCH_FAILED)
    with pytest.raises(RecipeError, match="does not exist"):
        linux.build(tmp_path / "l3", tmp_path / "nope.tar.xz")


# -- the one document rule ----------------------------------------------------------------------------

def test_recipes_and_loaders_share_one_document_rule(tmp_path):
    assert is_document("kernel/fork.c") and is_document("json/decoder.py")
    assert not any(is_document(p) for p in ("NOTICE", "LICENSE", "COPYING.GPL-2.0", "README.md",
                                            ".build.json", "docs/.hidden/x.c", "Readme/x.txt"))
    writer = DocumentWriter(tmp_path / "out", non_utf8="skip")
    late_nul = b"x" * (2 << 20) + b"\x00"  # a NUL past the first MiB is still binary
    assert writer.add("a.txt", b"text\n") and not writer.add("b.txt", late_nul)
    assert not writer.add("README.txt", b"a note") and not writer.add("c.txt", b"")
    assert not writer.add("d.txt", b"caf\xe9")
    assert writer.counts() == {"files": 1, "bytes": 5, "reserved_name": 1, "empty": 1, "nul": 1, "non_utf8": 1}
    with pytest.raises(ValueError, match="note's name"):
        writer.add_text("NOTICE", "made by a recipe")
    with pytest.raises(ValueError, match="read as a document"):
        writer.add_note("notes.txt", "about the corpus")
    writer.add_note("NOTICE", "source and license")
    assert [d.name for d in load_corpus(tmp_path / "out").documents] == ["a.txt"]
    (tmp_path / "b.txt").write_bytes(late_nul)  # what the recipe skipped, the loader refuses
    with pytest.raises(CorpusError, match="binary"):
        load_corpus(tmp_path / "b.txt")


# -- the cache and the CLI ------------------------------------------------------------------------

def test_cache_build_skip_force(tmp_path, monkeypatch, stdlib_dir):
    monkeypatch.setenv("CHARNN_CACHE", str(tmp_path / "cache"))
    assert cache.default_out("python-stdlib") == tmp_path / "cache" / "corpora" / "python-stdlib"
    assert cache.folder_name("python-stdlib", {"include_tests": True}) == "python-stdlib-include-tests"
    assert cache.folder_name("linux", {"subsystems": "mm,kernel"}) == "linux"
    assert cache.folder_name("linux", {"subsystems": "kernel,fs,mm"}) == "linux-fs-kernel-mm"
    folder, manifest, built = cache.build_cached("python-stdlib", source=stdlib_dir)
    assert built and folder == cache.default_out("python-stdlib")
    size, sha = corpus_digest(folder)
    assert (manifest["size"], manifest["sha256"], manifest["documents"]) == (size, sha, 4)
    assert manifest["license"].startswith("PSF") and manifest["options"]["include_tests"] is False
    assert cache.read_manifest(folder) == manifest
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp folders left
    # built already: skipped, even with another source
    _, again, built = cache.build_cached("python-stdlib", source=tmp_path / "missing")
    assert not built and again == manifest
    # other options into the same folder: refused unless forced
    with pytest.raises(RecipeError, match="--force"):
        cache.build_cached("python-stdlib", out=folder, source=stdlib_dir, include_tests=True)
    _, forced, built = cache.build_cached("python-stdlib", out=folder, source=stdlib_dir, include_tests=True,
                                          force=True)
    assert built and forced["documents"] == 7 and cache.read_manifest(folder)["documents"] == 7
    # a failing build leaves nothing behind, and never touches a folder that is not ours
    with pytest.raises(RecipeError):
        cache.build_cached("python-stdlib", out=tmp_path / "cache" / "corpora" / "bad", source=tmp_path / "nope")
    assert sorted(p.name for p in (tmp_path / "cache" / "corpora").iterdir()) == ["python-stdlib"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RecipeError, match="not a corpus built by charnn"):
        cache.build_cached("python-stdlib", out=tmp_path / "mine", source=stdlib_dir, force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(RecipeError, match="takes no option subsystems"):
        cache.build_cached("python-stdlib", source=stdlib_dir, subsystems="mm")
    assert [f.name for f, _ in cache.built_corpora()] == ["python-stdlib"]
    # GPL recipes never build into the package's corpora/ folder
    monkeypatch.setenv("CHARNN_CORPORA", str(tmp_path / "repo-corpora"))
    with pytest.raises(RecipeError, match="never committed"):
        cache.build_cached("linux", out=tmp_path / "repo-corpora" / "linux", source=tmp_path / "k.tar.xz")
    assert not (tmp_path / "repo-corpora").exists()


def test_cache_rebuilds_a_bundled_folder_in_place_but_loses_nothing(tmp_path, stdlib_dir):
    bundled = tmp_path / "corpora" / "python-stdlib"  # a committed corpus has no manifest
    folder, first, _ = cache.build_cached("python-stdlib", out=bundled, source=stdlib_dir)
    (bundled / cache.MARKER).unlink()
    folder, again, built = cache.build_cached("python-stdlib", out=bundled, source=stdlib_dir)
    assert built and again["sha256"] == first["sha256"] and cache.read_manifest(bundled) == again
    (bundled / cache.MARKER).unlink()
    (bundled / "mine.py").write_text("a user's own document\n")
    with pytest.raises(RecipeError, match=r"not a corpus built by charnn .*\(mine.py\)"):
        cache.build_cached("python-stdlib", out=bundled, source=stdlib_dir)
    assert (bundled / "mine.py").read_text() == "a user's own document\n"
    assert sorted(p.name for p in bundled.parent.iterdir()) == ["python-stdlib"]


KILLED_BUILD = """
import functools, sys, time
from charnn.recipes import cache, python_stdlib
build = python_stdlib.build
@functools.wraps(build)
def slow(out_dir, *args, **kwargs):
    build(out_dir, *args, **kwargs)
    print("documents written", flush=True)
    time.sleep(120)
python_stdlib.build = slow
cache.build_cached("python-stdlib", out=sys.argv[1], source=sys.argv[2], force=True, include_tests=True)
"""


def test_a_killed_build_leaves_the_previous_corpus(tmp_path, stdlib_dir):
    out = tmp_path / "corpora" / "python-stdlib"
    _, before, _ = cache.build_cached("python-stdlib", out=out, source=stdlib_dir)
    repo = Path(cache.__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(out), str(stdlib_dir)], cwd=repo,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "documents written\n"  # killed after writing, before the swap
    finally:
        child.kill()
        child.wait()
    assert cache.read_manifest(out) == before and corpus_digest(out)[1] == before["sha256"]
    assert [f for f, _ in cache.built_corpora(out.parent)] == [out]


def _charnn(argv, monkeypatch):
    return cli.main(argv)


def test_cli_build_and_list(tmp_path, monkeypatch, capsys, stdlib_dir):
    monkeypatch.setenv("CHARNN_CACHE", str(tmp_path / "cache"))
    tarball = kernel_tarball(tmp_path / "linux.tar.xz")
    assert _charnn(["corpus", "build", "linux", "--from", str(tarball)], monkeypatch) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "cache" / "corpora" / "linux"
    size, sha = corpus_digest(folder)
    assert f"size      {size} bytes" in out and f"sha256    {sha}" in out and "GPL-2.0" in out
    assert "documents 5" in out and "built in" in out
    assert _charnn(["corpus", "build", "linux", "--from", str(tarball)], monkeypatch) == 0
    assert "already built" in capsys.readouterr().out
    assert _charnn(["corpus", "build", "linux", "--subsystems", "mm", "--from", str(tarball)], monkeypatch) == 0
    assert "linux-mm" in capsys.readouterr().out
    assert _charnn(["corpus", "build", "python-stdlib", "--out", str(tmp_path / "py"),
                    "--from", str(stdlib_dir)], monkeypatch) == 0
    capsys.readouterr()
    assert _charnn(["corpus", "list"], monkeypatch) == 0
    listing = capsys.readouterr().out
    assert "austen" in listing and "debian-docs" in listing and "not built" in listing
    assert "linux           GPL-2.0-only     built: 5 documents" in listing
    assert "built (subsystems=mm)" in listing
    # missing client through the CLI: one clear line, exit status 2
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    assert _charnn(["corpus", "build", "debian-docs", "--force"], monkeypatch) == 2
    assert FETCH_FAILED in capsys.readouterr().err
