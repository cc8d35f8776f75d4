"""Where a recipe's input comes from: a registry client, or a local .deb, tarball or folder.

    with recipe_input("austen", source, "apt", "r-cran-janeaustenr", HINT) as path:
        for rel, data in source_files(path, want=lambda rel: rel.endswith(".rdx"), hint=HINT):
            ...

:func:`recipe_input` is the one fetcher (``apt-get download`` or ``npm pack`` into a temporary
folder, or the user's ``--from`` path); :func:`deb_stream` is the one .deb reader (the ar archive
walked from disk and its data or control tarball streamed, so a 140 MB kernel package is never
held in memory); :func:`source_files` yields the wanted files of a folder, .deb or tarball.
Standard library only.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from . import RecipeError

# client -> (argv before the package spec, the suffix of the file it leaves, what --from takes instead)
CLIENTS = {
    "apt": (("apt-get", "download"), ".deb", ".deb, tarball or folder"),
    "npm": (("npm", "pack", "--silent"), ".tgz", ".tgz, folder or data file"),
}
FETCH_TIMEOUT_S = 1800  # the kernel source package is 140 MB


def fetch_failed(client: str) -> str:
    """The first words of every error from a failed fetch: what failed and what to pass instead."""
    argv, _, takes = CLIENTS[client]
    return (f"{argv[0]} is not available (or the package could not be downloaded): "
            f"pass --from PATH with a local {takes}")


def _example(client: str, spec: str) -> str:
    """The file name the client would have left, as a --from example."""
    if client == "apt":
        return f"{spec}_*.deb"
    return spec.lstrip("@").replace("/", "-").split("@")[0] + "-*.tgz"


def fetch(recipe: str, client: str, spec: str, dest: Path) -> Path:
    """Download ``spec`` with ``client`` (a key of :data:`CLIENTS`) into ``dest``; the file's path."""
    argv = [*CLIENTS[client][0], spec]
    suffix = CLIENTS[client][1]
    example = f"e.g. `charnn corpus build {recipe} --from {_example(client, spec)}`"
    if shutil.which(argv[0]) is None:
        raise RecipeError(f"{fetch_failed(client)} (`{argv[0]}` is not installed; {example})")
    try:
        proc = subprocess.run(argv, cwd=dest, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RecipeError(f"{fetch_failed(client)} (`{' '.join(argv)}` failed: {err}; {example})") from None
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise RecipeError(f"{fetch_failed(client)} (`{' '.join(argv)}` exited with {proc.returncode}"
                          f"{': ' + tail if tail else ''}; {example})")
    found = sorted(Path(dest).glob(f"*{suffix}"))
    if len(found) != 1:
        raise RecipeError(f"{fetch_failed(client)} (`{' '.join(argv)}` left {len(found)} {suffix} files "
                          f"in {dest}, expected 1)")
    return found[0]


@contextlib.contextmanager
def recipe_input(recipe: str, source: Path | None, client: str, spec: str, hint: str) -> Iterator[Path]:
    """``source`` itself (it must exist), or else ``spec`` fetched with ``client`` into a temporary folder."""
    if source is not None:
        source = Path(source).expanduser()
        if not source.exists():
            raise RecipeError(f"{source} does not exist. Pass {hint}.")
        yield source
        return
    with tempfile.TemporaryDirectory(prefix=f"charnn-{recipe}-") as tmp:
        yield fetch(recipe, client, spec, Path(tmp))


# -- reading archives and folders -------------------------------------------------------------------

class _Bounded(io.RawIOBase):
    """At most ``size`` bytes of an open file, from its current position (an ar member, streamed)."""

    def __init__(self, f, size: int):
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        if not data:  # a cut download: the file ends inside the member
            raise EOFError(f"the file ends {self._left} bytes before its ar member does")
        buf[:len(data)] = data
        self._left -= len(data)
        return len(data)


_STREAM_MODES = {"": "r|", ".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2"}
_DECOMPRESSORS = ((b"\x1f\x8b", gzip.open), (b"\xfd7zXZ\x00", lzma.open), (b"BZh", bz2.open))
# What tarfile and its decompressors raise on a truncated or corrupt archive.
_DAMAGED = (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile)


@contextlib.contextmanager
def archive_errors(path: Path) -> Iterator[None]:
    """Turn a damaged archive's errors, raised while it is read, into one line naming the file."""
    try:
        yield
    except _DAMAGED as err:
        raise RecipeError(f"{path} is damaged or truncated ({type(err).__name__}: {err}): "
                          f"download it again, or pass another copy with --from") from None


def _ar_member(f, path: Path, prefix: str) -> tuple[str, int]:
    """Advance ``f`` (past the ar magic) to the first member named ``prefix*``; (its name, its size)."""
    while True:
        header = f.read(60)
        if len(header) < 60:
            raise RecipeError(f"{path} has no {prefix}* member: is it a Debian package?")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise RecipeError(f"{path}: corrupt ar header (a damaged .deb? download it again)") from None
        if name.startswith(prefix):
            return name, size
        f.seek(size + (size & 1), 1)


@contextlib.contextmanager
def deb_stream(path: Path, which: str = "data") -> Iterator[tarfile.TarFile]:
    """The data (or control) tarball of a .deb as a *stream-mode* TarFile: iterate it once, in order.

    zstd members are streamed through ``dpkg-deb`` (Python has no zstd decoder before 3.14).
    """
    path = Path(path)
    with open(path, "rb") as f, archive_errors(path):
        if f.read(8) != b"!<arch>\n":
            raise RecipeError(f"{path} is not a .deb (no ar header)")
        name, size = _ar_member(f, path, f"{which}.tar")
        suffix = name[len(f"{which}.tar"):]
        if suffix == ".zst":
            if shutil.which("dpkg-deb") is None:
                raise RecipeError(f"{path} is zstd-compressed, which Python cannot read without dpkg-deb: "
                                  f"unpack it (`dpkg-deb -x {path} DIR`) and pass DIR")
            tool = "--fsys-tarfile" if which == "data" else "--ctrl-tarfile"
            proc = subprocess.Popen(["dpkg-deb", tool, str(path)], stdout=subprocess.PIPE)
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                    yield tar
            finally:
                proc.stdout.close()
                proc.kill()
                proc.wait()
            return
        if suffix not in _STREAM_MODES:
            raise RecipeError(f"{path}: unsupported member {name}")
        with tarfile.open(fileobj=io.BufferedReader(_Bounded(f, size), 1 << 20),
                          mode=_STREAM_MODES[suffix]) as tar:
            yield tar


def deb_control(path: Path) -> dict[str, str]:
    """The fields of a .deb's control file (``Package``, ``Version``, ...), read by streaming."""
    with deb_stream(path, "control") as tar:
        for member in tar:
            if member.isfile() and member.name.lstrip("./") == "control":
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                fields = {}
                for line in text.splitlines():
                    if line and not line[0].isspace() and ":" in line:
                        key, value = line.split(":", 1)
                        fields[key.strip()] = value.strip()
                return fields
    return {}


def safe_relpath(name: str) -> str | None:
    """An archive member name as a clean relative POSIX path, or None if it escapes (``..``, absolute)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        return None
    return "/".join(parts)


def tar_files(tar: tarfile.TarFile, want: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(clean relative path, bytes) of the regular files of ``tar`` that ``want``, in archive order."""
    for member in tar:
        rel = safe_relpath(member.name)
        if rel is not None and member.isfile() and want(rel):
            yield rel, tar.extractfile(member).read()


def folder_files(root: Path, want: Callable[[str], bool],
                 prune: Callable[[str], bool] = lambda reldir: False) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of the regular files under ``root`` that ``want``, in sorted order.

    Symlinks are not followed; folders for which ``prune(relative path)`` is true are not entered.
    """
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not prune((here / d).relative_to(root).as_posix()))
        for fname in sorted(filenames):
            path = here / fname
            rel = path.relative_to(root).as_posix()
            if not path.is_symlink() and path.is_file() and want(rel):
                yield rel, path.read_bytes()


@contextlib.contextmanager
def open_archive(path: Path, hint: str) -> Iterator[tarfile.TarFile]:
    """A .deb's data tarball or a tarball (any compression), as a stream-mode TarFile."""
    path = Path(path)
    if path.name.lower().endswith(".deb"):
        with deb_stream(path) as tar:
            yield tar
    elif tarfile.is_tarfile(path):
        # The decompressor's own file class, not tarfile's stream: it raises at a cut-off end,
        # where tarfile's stream mode would end the archive early without a word.
        with open(path, "rb") as f:
            head = f.read(6)
        opener = next((o for magic, o in _DECOMPRESSORS if head.startswith(magic)), open)
        with archive_errors(path), opener(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            yield tar
    else:
        raise RecipeError(f"{path}: not a .deb, tarball or folder. Pass {hint}.")


def source_files(path: Path, want: Callable[[str], bool], hint: str) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of the files that ``want`` in a folder, a .deb or a tarball."""
    if Path(path).is_dir():
        yield from folder_files(path, want)
        return
    with open_archive(path, hint) as tar:
        yield from tar_files(tar, want)
