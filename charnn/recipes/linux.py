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

import re
import tarfile
import time
from pathlib import Path

from . import RecipeError
from .documents import DocumentWriter, line_stats, write_build_info
from .sources import deb_control, deb_stream, folder_files, open_archive, recipe_input, safe_relpath, tar_files

NAME = "linux"
PACKAGE = "linux-source-6.1"
# GPL text: charnn.recipes.cache refuses to build it into the package's corpora/ folder.
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
    """Keeps the selected files of a kernel tree, whatever it is read from, with the kernel's version and licenses."""

    def __init__(self, out: Path, subsystems: tuple[str, ...], non_utf8: str):
        self.writer = DocumentWriter(out, non_utf8)
        self.subsystems = subsystems
        self.tops = {s.split("/")[0] for s in subsystems}
        self.licenses: dict[str, str] = {}
        self.version: str | None = None

    def tree_path(self, name: str) -> str:
        """An archive member's path inside the kernel tree: drop a leading ``linux-x.y/`` folder."""
        parts = name.split("/")
        if parts[0] not in self.tops and len(parts) > 1 and name not in _META:
            parts = parts[1:]
        return "/".join(parts)

    def subsystem(self, rel: str) -> str | None:
        """The subsystem ``rel`` belongs to if it is a wanted source file, else None."""
        if not rel.endswith(EXTENSIONS):
            return None
        return next((s for s in self.subsystems if rel.startswith(s + "/")), None)

    def wants(self, rel: str) -> bool:
        return rel in _META or self.subsystem(rel) is not None

    def add(self, rel: str, data: bytes) -> None:
        """A source file, or the top Makefile (the kernel's version) or a license text."""
        if rel in LICENSE_FILES:
            self.licenses.setdefault(rel, data.decode("utf-8", "replace"))
        elif rel == "Makefile":
            self.version = self.version or _kernel_version(data[:2000].decode("utf-8", "replace"))
        else:
            self.writer.add(rel, data)

    def from_tar(self, tar: tarfile.TarFile) -> None:
        """Every wanted member of a (stream-mode) kernel tarball, in archive order."""
        for name, data in tar_files(tar, lambda n: self.wants(self.tree_path(n))):
            self.add(self.tree_path(name), data)

    def from_tree(self, root: Path) -> None:
        """The subsystem folders of an unpacked kernel tree (``root`` or its one subfolder holding them)."""
        if not any((root / s).is_dir() for s in self.subsystems):
            inner = [p for p in root.iterdir() if p.is_dir() and any((p / s).is_dir() for s in self.subsystems)]
            if len(inner) != 1:
                raise RecipeError(f"{root} holds none of the folders {', '.join(self.subsystems)}: "
                                  f"pass the top of a kernel tree. Pass {HINT}.")
            root = inner[0]
        for rel in _META:
            if (root / rel).is_file():
                self.add(rel, (root / rel).read_bytes())
        for subsystem in self.subsystems:
            for rel, data in folder_files(root / subsystem, lambda rel: rel.endswith(EXTENSIONS)):
                self.add(f"{subsystem}/{rel}", data)

    def counts(self) -> tuple[dict, dict]:
        """(the writer's counts, files and bytes per subsystem)."""
        per_subsystem = {s: {"files": 0, "bytes": 0} for s in self.subsystems}
        for rel, size in self.writer.sizes.items():
            entry = per_subsystem[self.subsystem(rel)]
            entry["files"] += 1
            entry["bytes"] += size
        return self.writer.counts(), per_subsystem


def _kernel_version(makefile_head: str) -> str | None:
    """``6.1.7`` from the VERSION, PATCHLEVEL, SUBLEVEL and EXTRAVERSION lines of the top Makefile."""
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)", makefile_head, re.M))
    if "VERSION" not in fields or "PATCHLEVEL" not in fields:
        return None
    return (f"{fields['VERSION']}.{fields['PATCHLEVEL']}" + (f".{fields['SUBLEVEL']}" if fields.get("SUBLEVEL") else "")
            + fields.get("EXTRAVERSION", ""))


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


stats = line_stats  # files and lines, for the CLI


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
    collector = _Collector(Path(out_dir), subsystems, non_utf8)
    with recipe_input(NAME, source, "apt", PACKAGE, HINT) as path:
        if path.is_dir():
            collector.from_tree(path)
            desc = f"kernel tree {path.resolve()}"
        elif path.name.lower().endswith(".deb"):
            desc = _read_deb(path, collector) + ("" if source is None else f" ({path.name})")
        else:
            with open_archive(path, HINT) as tar:
                collector.from_tar(tar)
            desc = f"kernel tarball {path.name}"
    counts, per_subsystem = collector.counts()
    if not counts["files"]:
        raise RecipeError(f"{desc}: no .c or .h files under {', '.join(s + '/' for s in subsystems)}. Pass {HINT}.")
    for rel, text in collector.licenses.items():
        collector.writer.add_note(LICENSE_FILES[rel], text)
    collector.writer.add_note("NOTICE", notice(desc, collector.version, subsystems, counts, non_utf8))
    write_build_info(out_dir, {
        "recipe": NAME, "source": desc, "kernel_version": collector.version, "subsystems": list(subsystems),
        "non_utf8_policy": non_utf8, **counts, "per_subsystem": per_subsystem,
        "seconds": round(time.time() - t0, 2),
    })
    return Path(out_dir)
