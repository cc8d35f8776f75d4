"""Linux kernel C source, the corpus of Karpathy, Johnson and Fei-Fei (2015) (``linux``).

The Debian package ``linux-source-6.1`` is one .deb holding ``usr/src/linux-source-6.1.tar.xz``
(about 140 MB). The recipe streams it: the .deb's data tarball, then the kernel tarball inside,
both in tarfile's stream mode (``r|xz``), so nothing but the selected files is ever written or
held in memory. It keeps the ``.c`` and ``.h`` files of the selected subsystems (top-level
folders such as ``kernel`` and ``mm``, or deeper ones such as ``drivers/net``), one document per
file at its path in the kernel tree (``kernel/sched/core.c``), bytes unchanged. Files with NUL
bytes are skipped; the rare file that is not valid UTF-8 is decoded with U+FFFD replacements
(``non_utf8="replace"``; or ``"latin-1"``, ``"skip"``); both are counted in ``.build.json``.
The kernel's ``COPYING`` (and the GPL-2.0 and syscall-note texts it points to, as
``COPYING.*``) is kept beside the documents; loaders skip it.

    charnn corpus build linux                                   # apt-get download linux-source-6.1
    charnn corpus build linux --subsystems kernel,mm,fs,net     # more text
    charnn corpus build linux --from linux-6.1.tar.xz           # a .deb, kernel tarball or tree

GPL-2.0: built on demand into a local cache, never committed.
"""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
import time
from pathlib import Path

from ._common import (RecipeError, apt_fetch, deb_control, deb_stream, decode_source, documents,
                      loader_skips, safe_relpath, write_build_info)

NAME = "linux"
PACKAGE = "linux-source-6.1"
# GPL text: charnn.recipes.cache refuses to build it into the repository's corpora/ folder.
NEVER_COMMIT = True
LICENSE = "GPL-2.0-only (Linux kernel; some files GPL-2.0+ or dual-licensed, see their SPDX lines)"
SUBSYSTEMS = ("kernel", "mm")
EXTENSIONS = (".c", ".h")
HINT = (f"the {PACKAGE} .deb (`apt-get download {PACKAGE}`), a kernel tarball (.tar.xz/.tar.gz, "
        f"e.g. from kernel.org) or an unpacked kernel tree")
# License texts kept beside the documents, under names corpus loaders skip.
LICENSE_FILES = {"COPYING": "COPYING", "LICENSES/preferred/GPL-2.0": "COPYING.GPL-2.0",
                 "LICENSES/exceptions/Linux-syscall-note": "COPYING.Linux-syscall-note"}
_META = ("Makefile", *LICENSE_FILES)
_INNER_RE = re.compile(r"(^|/)usr/src/linux-source-[^/]*\.tar(\.(xz|gz|bz2))?$")


def normalize_subsystems(subsystems) -> tuple[str, ...]:
    """Subsystems as sorted clean relative folder names; ``"kernel,mm"`` or a sequence."""
    if isinstance(subsystems, str):
        subsystems = subsystems.split(",")
    clean = []
    for s in subsystems:
        if not str(s).strip():
            continue
        rel = safe_relpath(str(s).strip().strip("/"))
        if rel is None:
            raise RecipeError(f"subsystem {s!r} is not a folder of the kernel tree (e.g. kernel, mm, drivers/net)")
        clean.append(rel)
    if not clean:
        raise RecipeError("no subsystems given (e.g. kernel,mm)")
    return tuple(sorted(set(clean)))


class _Collector:
    """Writes the selected files of a kernel tree, whatever it is read from, and counts them."""

    def __init__(self, out: Path, subsystems: tuple[str, ...], non_utf8: str):
        self.out, self.subsystems, self.non_utf8 = out, subsystems, non_utf8
        self.tops = {s.split("/")[0] for s in subsystems}
        self.counts = {"files": 0, "bytes": 0, "nul": 0, "non_utf8": 0, "reserved_name": 0, "empty": 0}
        self.per_subsystem = {s: {"files": 0, "bytes": 0} for s in subsystems}
        self.written: set[str] = set()
        self.licenses: dict[str, str] = {}
        self.version: str | None = None

    def tree_path(self, name: str) -> str | None:
        """An archive member's path inside the kernel tree: drop a leading ``linux-x.y/`` folder."""
        rel = safe_relpath(name)
        if rel is None:
            return None
        parts = rel.split("/")
        if parts[0] not in self.tops and len(parts) > 1 and rel not in _META:
            parts = parts[1:]
        return "/".join(parts)

    def wants(self, rel: str) -> str | None:
        """The subsystem ``rel`` belongs to if it is a wanted source file, else None."""
        if not rel.endswith(EXTENSIONS):
            return None
        return next((s for s in self.subsystems if rel.startswith(s + "/")), None)

    def meta(self, rel: str, read) -> None:
        """Keep the kernel's license texts and its version (from the top Makefile)."""
        if rel in LICENSE_FILES and rel not in self.licenses:
            self.licenses[rel] = read().decode("utf-8", "replace")
        elif rel == "Makefile" and self.version is None:
            head = read()[:2000].decode("utf-8", "replace")
            fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)", head, re.M))
            if "VERSION" in fields and "PATCHLEVEL" in fields:
                self.version = (f"{fields['VERSION']}.{fields['PATCHLEVEL']}"
                                + (f".{fields['SUBLEVEL']}" if fields.get("SUBLEVEL") else "")
                                + fields.get("EXTRAVERSION", ""))

    def add(self, rel: str, data: bytes) -> None:
        subsystem = self.wants(rel)
        if subsystem is None:
            return
        if loader_skips(rel):
            self.counts["reserved_name"] += 1
            return
        if not data:
            self.counts["empty"] += 1
            return
        text, status = decode_source(data, self.non_utf8)
        if text is None:
            self.counts["nul" if status == "nul" else "non_utf8"] += 1
            return
        self.counts["non_utf8"] += status != "ok"
        raw = text.encode("utf-8") if status != "ok" else data
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        if rel not in self.written:
            self.written.add(rel)
            self.counts["files"] += 1
            self.per_subsystem[subsystem]["files"] += 1
        self.counts["bytes"] += len(raw)
        self.per_subsystem[subsystem]["bytes"] += len(raw)

    def from_tar(self, tar: tarfile.TarFile) -> None:
        """Every member of a (stream-mode) kernel tarball, in archive order."""
        for member in tar:
            if not member.isfile():
                continue
            rel = self.tree_path(member.name)
            if rel is None:
                continue
            if rel in _META:
                self.meta(rel, tar.extractfile(member).read)
            elif self.wants(rel):
                self.add(rel, tar.extractfile(member).read())

    def from_tree(self, root: Path) -> None:
        if not any((root / s).is_dir() for s in self.subsystems):
            subdirs = [p for p in root.iterdir() if p.is_dir()]
            inner = [p for p in subdirs if any((p / s).is_dir() for s in self.subsystems)]
            if len(inner) != 1:
                raise RecipeError(f"{root} holds none of the folders {', '.join(self.subsystems)}: "
                                  f"pass the top of a kernel tree. Pass {HINT}.")
            root = inner[0]
        for rel in _META:
            if (root / rel).is_file():
                self.meta(rel, (root / rel).read_bytes)
        for subsystem in self.subsystems:
            top = root / subsystem
            if not top.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames.sort()
                for fname in sorted(filenames):
                    path = Path(dirpath) / fname
                    if path.is_symlink() or not path.is_file():
                        continue
                    rel = path.relative_to(root).as_posix()
                    if self.wants(rel):
                        self.add(rel, path.read_bytes())


def _read_deb(deb: Path, collector: _Collector) -> str:
    """Stream the kernel tarball out of the .deb; the source's description."""
    control = deb_control(deb)
    with deb_stream(deb) as outer:
        for member in outer:
            if member.isfile() and _INNER_RE.search(member.name):
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|*") as inner:
                    collector.from_tar(inner)
                break
        else:
            raise RecipeError(f"{deb} holds no usr/src/linux-source-*.tar.*: is it a linux-source package? "
                              f"Pass {HINT}.")
    return f"Debian {control.get('Package', PACKAGE)} {control.get('Version', '?')}"


def stats(folder: Path) -> dict[str, str]:
    """Figures reported by the CLI: lines and files per subsystem."""
    docs = documents(folder)
    lines = sum(p.read_bytes().count(b"\n") for p in docs)
    return {"files": str(len(docs)), "lines": str(lines)}


def notice(desc: str, version: str | None, subsystems: tuple[str, ...], counts: dict, non_utf8: str) -> str:
    subs = ", ".join(f"{s}/" for s in subsystems)
    return f"""\
Linux kernel C source: the .c and .h files under {subs}: one document per file at its
path in the kernel tree, bytes unchanged ({counts['files']} files, {counts['bytes']} bytes).
Skipped: {counts['nul']} with NUL bytes, {counts['reserved_name']} whose names loaders treat as notes;
not valid UTF-8: {counts['non_utf8']} ({'skipped' if non_utf8 == 'skip' else f'decoded with {non_utf8}'}).

Source: {desc}{f' (kernel {version})' if version else ''}.
License: {LICENSE}.
The kernel is distributed under the GNU General Public License version 2 (see COPYING and COPYING.* in
this folder when the source had them, or https://www.kernel.org/doc/html/latest/process/license-rules.html).
This folder is built on demand and must not be committed to the charnn repository or
redistributed without the kernel's license terms.

Rebuild: charnn corpus build linux [--subsystems {','.join(subsystems)}] [--from linux-source-6.1_*.deb]
"""


def build(out_dir: Path, source: Path | None = None, subsystems=SUBSYSTEMS, non_utf8: str = "replace") -> Path:
    """Write the selected kernel source files into ``out_dir`` (the corpus folder itself) and return it.

    Without ``source`` the .deb is fetched with ``apt-get download linux-source-6.1``.
    """
    t0 = time.time()
    subsystems = normalize_subsystems(subsystems)
    out = Path(out_dir)
    if source is not None and not Path(source).exists():
        raise RecipeError(f"{source} does not exist. Pass {HINT}.")
    out.mkdir(parents=True, exist_ok=True)
    collector = _Collector(out, subsystems, non_utf8)
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            deb = apt_fetch(PACKAGE, Path(tmp), NAME)
            desc = _read_deb(deb, collector)
    else:
        source = Path(source)
        if source.is_dir():
            collector.from_tree(source)
            desc = f"kernel tree {source.resolve()}"
        elif source.name.lower().endswith(".deb"):
            desc = _read_deb(source, collector) + f" ({source.name})"
        elif tarfile.is_tarfile(source):
            with tarfile.open(source, "r|*") as tar:
                collector.from_tar(tar)
            desc = f"kernel tarball {source.name}"
        else:
            raise RecipeError(f"{source}: not a .deb, tarball or folder. Pass {HINT}.")
    if not collector.counts["files"]:
        raise RecipeError(f"{desc}: no .c or .h files under {', '.join(s + '/' for s in subsystems)}. Pass {HINT}.")
    for rel, text in collector.licenses.items():
        (out / LICENSE_FILES[rel]).write_text(text, encoding="utf-8")
    (out / "NOTICE").write_text(notice(desc, collector.version, subsystems, collector.counts, non_utf8),
                                encoding="utf-8")
    write_build_info(out, {
        "recipe": NAME, "source": desc, "kernel_version": collector.version, "subsystems": list(subsystems),
        "non_utf8_policy": non_utf8, **collector.counts, "per_subsystem": collector.per_subsystem,
        "seconds": round(time.time() - t0, 2),
    })
    return out
