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

import platform
import sysconfig
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from . import RecipeError
from .documents import DocumentWriter, line_stats, write_build_info
from .sources import archive_errors, folder_files, safe_relpath, tar_files

NAME = "python-stdlib"
LICENSE = "PSF-2.0 (Python Software Foundation License; see LICENSE)"
HINT = "a folder of .py files (a Python lib/python3.X folder, or a CPython source tree or tarball with Lib/)"
EXCLUDED_DIRS = {"site-packages", "dist-packages", "__pycache__", "lib-dynload"}
TEST_DIRS = {"test", "tests", "idle_test"}
LICENSE_NAMES = ("LICENSE.txt", "LICENSE")  # at the top of the library or the source tree


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


def _pruned(reldir: str) -> bool:
    """Folders never entered: third-party code and build folders (site-packages can be huge)."""
    return reldir.split("/")[-1] in EXCLUDED_DIRS or ("/" not in reldir and reldir.startswith("config-"))


def _folder_files(source: Path) -> Iterator[tuple[str, bytes]]:
    """(path in the library, bytes) of the ``.py`` files and the license of a library folder or source tree."""
    root = source / "Lib" if (source / "Lib").is_dir() else source
    yield from folder_files(root, lambda rel: rel.endswith(".py"), prune=_pruned)
    for folder in (root, source):
        for name in LICENSE_NAMES:
            if (folder / name).is_file():
                yield name, (folder / name).read_bytes()
                return


def _tar_files(source: Path) -> Iterator[tuple[str, bytes]]:
    """The same for a tarball: of a CPython source tree (its ``Lib/``) or of a library folder."""
    with archive_errors(source), tarfile.open(source, "r:*") as tar:
        names = [n for n in (safe_relpath(m.name) for m in tar.getmembers() if m.isfile()) if n]
        use_lib = any("/Lib/" in f"/{n}" for n in names)
        single_root = len({n.split("/")[0] for n in names}) == 1

        def library_path(name: str) -> str | None:
            parts = name.split("/")
            if parts[-1] in LICENSE_NAMES and len(parts) <= 2:
                return parts[-1]
            if use_lib:
                if "Lib" not in parts:
                    return None
                parts = parts[parts.index("Lib") + 1:]
            elif single_root and len(parts) > 1:
                parts = parts[1:]
            rel = "/".join(parts)
            return rel if rel.endswith(".py") else None

        for name, data in tar_files(tar, lambda n: library_path(n) is not None):
            yield library_path(name), data


stats = line_stats  # files and lines, for the CLI


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
    writer = DocumentWriter(out_dir, non_utf8)
    tests_left_out = 0
    license_text = None
    for rel, data in (_folder_files(source) if source.is_dir() else _tar_files(source)):
        if rel in LICENSE_NAMES:
            license_text = license_text or data.decode("utf-8", "replace")
        elif wanted(rel, include_tests):
            writer.add(rel, data)
        else:
            tests_left_out += wanted(rel, True)
    counts = {**writer.counts(), "tests_left_out": tests_left_out}
    if not counts["files"]:
        raise RecipeError(f"{desc}: no .py files found. Pass --from PATH with {HINT}.")
    if license_text:
        writer.add_note("LICENSE", license_text)
    writer.add_note("NOTICE", notice(desc, counts, include_tests))
    write_build_info(out_dir, {"recipe": NAME, "source": desc, "include_tests": include_tests,
                               "non_utf8_policy": non_utf8, **counts,
                               "seconds": round(time.time() - t0, 2)})
    return Path(out_dir)
