"""Python source: the standard library of the running Python installation (``python-stdlib``).

The ``.py`` files under ``sysconfig.get_paths()["stdlib"]``, one document per file at its path
in the library (``json/decoder.py``), bytes unchanged. Left out: ``site-packages`` and
``dist-packages`` (third-party code), ``__pycache__``, ``lib-dynload``, the build's
``config-*`` folder and the machine-specific ``_sysconfigdata_*.py``, and the test suites
(folders named ``test``, ``tests`` or ``idle_test``) unless ``include_tests=True``. Files with
NUL bytes are skipped and invalid UTF-8 decoded with U+FFFD replacements (both counted). The
library's ``LICENSE.txt`` is kept as ``LICENSE`` (loaders skip it).

    charnn corpus build python-stdlib                   # this interpreter's library
    charnn corpus build python-stdlib --include-tests   # with the test suites (about 2.5x more)
    charnn corpus build python-stdlib --from DIR        # another library, or a CPython source tree
                                                        # or tarball (its Lib/ folder is used)

The output depends on the Python version (recorded in the NOTICE). License: PSF-2.0.
"""

from __future__ import annotations

import os
import platform
import sysconfig
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from ._common import RecipeError, decode_source, documents, loader_skips, safe_relpath, write_build_info

NAME = "python-stdlib"
LICENSE = "PSF-2.0 (Python Software Foundation License; see LICENSE)"
HINT = "a folder of .py files (a Python lib/python3.X folder, or a CPython source tree or tarball with Lib/)"
EXCLUDED_DIRS = {"site-packages", "dist-packages", "__pycache__", "lib-dynload"}
TEST_DIRS = {"test", "tests", "idle_test"}


def default_source() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def wanted(rel: str, include_tests: bool = False) -> bool:
    """Whether a path relative to the library root is a standard-library module to keep."""
    parts = rel.split("/")
    if not parts[-1].endswith(".py") or parts[-1].startswith("_sysconfigdata_"):
        return False
    dirs = parts[:-1]
    if any(d in EXCLUDED_DIRS for d in dirs) or (dirs and dirs[0].startswith("config-")):
        return False
    return include_tests or not any(d in TEST_DIRS for d in dirs)


def _lib_rel(rel: str, use_lib: bool) -> str | None:
    """Path inside the library: after the ``Lib/`` folder of a CPython source tree when ``use_lib``."""
    if not use_lib:
        return rel
    parts = rel.split("/")
    if "Lib" not in parts:
        return None
    return "/".join(parts[parts.index("Lib") + 1:]) or None


def _files(source: Path) -> Iterator[tuple[str, object]]:
    """(path relative to the library root, a callable returning the bytes) of every file in ``source``."""
    if source.is_dir():
        root = source / "Lib" if (source / "Lib").is_dir() else source
        for dirpath, dirnames, filenames in os.walk(root):
            # Never descend into third-party code or build folders (site-packages can be huge).
            dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS
                                 and not (Path(dirpath) == root and d.startswith("config-")))
            for fname in sorted(filenames):
                path = Path(dirpath) / fname
                if fname.endswith(".py") and path.is_file() and not path.is_symlink():
                    yield path.relative_to(root).as_posix(), path.read_bytes
        for name in ("LICENSE.txt", "LICENSE"):
            if (root / name).is_file():
                yield name, (root / name).read_bytes
            elif (source / name).is_file():
                yield name, (source / name).read_bytes
        return
    with tarfile.open(source, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        names = [safe_relpath(m.name) for m in members]
        use_lib = any(n and "/Lib/" in f"/{n}" for n in names)
        roots = {n.split("/")[0] for n in names if n}
        for member, name in zip(members, names):
            if not name:
                continue
            if name.split("/")[-1] in ("LICENSE", "LICENSE.txt") and name.count("/") <= 1:
                rel = name.split("/")[-1]
            elif use_lib:
                rel = _lib_rel(name, True)
            else:  # a tarball of a library folder: drop its single top folder
                rel = name.split("/", 1)[1] if len(roots) == 1 and "/" in name else name
            if rel:
                yield rel, (lambda m=member: tar.extractfile(m).read())


def stats(folder: Path) -> dict[str, str]:
    docs = documents(folder)
    return {"files": str(len(docs)), "lines": str(sum(p.read_bytes().count(b"\n") for p in docs))}


def notice(desc: str, counts: dict, include_tests: bool) -> str:
    return f"""\
Python standard library source: the .py files of {desc}, one document per file at its path
in the library, bytes unchanged ({counts['files']} files, {counts['bytes']} bytes); test suites
{'included' if include_tests else 'left out'}; site-packages, __pycache__, config-* and _sysconfigdata_* left out.
Skipped: {counts['nul']} with NUL bytes, {counts['reserved_name']} whose names loaders treat as notes;
not valid UTF-8: {counts['non_utf8']}.

License: {LICENSE}. Copyright (c) 2001-2024 Python Software Foundation; all rights reserved.
The library's license file, when the source had one, is kept here as LICENSE.

Rebuild: charnn corpus build python-stdlib{' --include-tests' if include_tests else ''} [--from DIR]
"""


def build(out_dir: Path, source: Path | None = None, include_tests: bool = False,
          non_utf8: str = "replace") -> Path:
    """Write the library's modules into ``out_dir`` (the corpus folder itself) and return it.

    Without ``source`` the running interpreter's standard library is read.
    """
    t0 = time.time()
    if source is None:
        source = default_source()
        if not source.is_dir():
            raise RecipeError(f"the Python standard library was not found at {source} "
                              f"(sysconfig stdlib path). Pass --from PATH with {HINT}.")
        desc = f"Python {platform.python_version()} ({platform.python_implementation()}) at {source}"
    else:
        source = Path(source)
        if not source.exists():
            raise RecipeError(f"{source} does not exist. Pass --from PATH with {HINT}.")
        if not source.is_dir() and not tarfile.is_tarfile(source):
            raise RecipeError(f"{source}: not a folder or tarball. Pass --from PATH with {HINT}.")
        desc = f"{'folder' if source.is_dir() else 'tarball'} {source.resolve()}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"files": 0, "bytes": 0, "nul": 0, "non_utf8": 0, "reserved_name": 0, "empty": 0, "tests_left_out": 0}
    license_text = None
    for rel, read in _files(source):
        if rel in ("LICENSE.txt", "LICENSE"):
            license_text = license_text or read().decode("utf-8", "replace")
            continue
        if not wanted(rel, include_tests):
            counts["tests_left_out"] += rel.endswith(".py") and wanted(rel, True)
            continue
        if loader_skips(rel):
            counts["reserved_name"] += 1
            continue
        data = read()
        if not data:
            counts["empty"] += 1
            continue
        text, status = decode_source(data, non_utf8)
        if text is None:
            counts["nul" if status == "nul" else "non_utf8"] += 1
            continue
        counts["non_utf8"] += status != "ok"
        raw = data if status == "ok" else text.encode("utf-8")
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        counts["files"] += 1
        counts["bytes"] += len(raw)
    if not counts["files"]:
        raise RecipeError(f"{desc}: no .py files found. Pass --from PATH with {HINT}.")
    if license_text:
        (out / "LICENSE").write_text(license_text, encoding="utf-8")
    (out / "NOTICE").write_text(notice(desc, counts, include_tests), encoding="utf-8")
    write_build_info(out, {"recipe": NAME, "source": desc, "include_tests": include_tests,
                           "non_utf8_policy": non_utf8, **counts,
                           "seconds": round(time.time() - t0, 2)})
    return out
