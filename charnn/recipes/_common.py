"""Shared pieces of the corpus recipes: registry clients, Debian archives, digests (standard library only)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import warnings
from pathlib import Path

# Same rule as charnn.corpus: files whose name starts with these are notes, not documents.
SKIP_PREFIXES = ("readme", "license", "notice", "copying", ".")


class RecipeError(RuntimeError):
    """A recipe that cannot get or read its input; the message says what to do."""


def _run_client(argv: list[str], cwd: Path, what: str, recipe: str, hint: str) -> None:
    how = (f"Pass a local copy instead: build(out_dir, source=PATH) or "
           f"`python -m charnn.recipes {recipe} --out DIR --from PATH`, where PATH is {hint}.")
    if shutil.which(argv[0]) is None:
        raise RecipeError(f"cannot fetch {what}: `{argv[0]}` is not installed. {how}")
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RecipeError(f"cannot fetch {what}: `{' '.join(argv)}` failed ({err}). {how}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RecipeError(f"cannot fetch {what}: `{' '.join(argv)}` exited with {proc.returncode}"
                          f"{': ' + ' / '.join(tail) if tail else ''}. {how}")


def apt_download(package: str, dest: Path, recipe: str, hint: str) -> Path:
    """``apt-get download PACKAGE`` into ``dest``; the .deb's path."""
    _run_client(["apt-get", "download", package], dest, f"Debian package {package}", recipe, hint)
    debs = sorted(dest.glob("*.deb"))
    if len(debs) != 1:
        raise RecipeError(f"`apt-get download {package}` left {len(debs)} .deb files in {dest}, expected 1")
    return debs[0]


def npm_pack(spec: str, dest: Path, recipe: str, hint: str) -> Path:
    """``npm pack SPEC`` into ``dest``; the .tgz's path."""
    _run_client(["npm", "pack", spec, "--silent"], dest, f"npm package {spec}", recipe, hint)
    tgzs = sorted(dest.glob("*.tgz"))
    if len(tgzs) != 1:
        raise RecipeError(f"`npm pack {spec}` left {len(tgzs)} .tgz files in {dest}, expected 1")
    return tgzs[0]


def ar_members(path: Path) -> dict[str, bytes]:
    """Members of a Unix ``ar`` archive (a .deb is one)."""
    data = Path(path).read_bytes()
    if data[:8] != b"!<arch>\n":
        raise RecipeError(f"{path} is not a .deb (no ar header)")
    members, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise RecipeError(f"{path}: corrupt ar header at byte {pos}") from None
        members[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return members


def deb_tar(path: Path, which: str = "data") -> tarfile.TarFile:
    """The data (or control) tarball of a .deb, opened; zstd members go through ``dpkg-deb``."""
    members = ar_members(path)
    name = next((n for n in members if n.startswith(f"{which}.tar")), None)
    if name is None:
        raise RecipeError(f"{path} has no {which}.tar.* member (members: {', '.join(members)})")
    if name.endswith(".zst"):
        tool = "--fsys-tarfile" if which == "data" else "--ctrl-tarfile"
        if shutil.which("dpkg-deb") is None:
            raise RecipeError(f"{path} is zstd-compressed, which Python cannot read without dpkg-deb: "
                              f"unpack it (`dpkg-deb -x {path} DIR`, or `ar x` + `unzstd`) and pass DIR")
        raw = subprocess.run(["dpkg-deb", tool, str(path)], capture_output=True, check=True).stdout
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    return tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:*")


def deb_field(path: Path, field: str) -> str | None:
    """A field of a .deb's control file (e.g. ``Version``)."""
    with deb_tar(path, "control") as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == "control":
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                for line in text.splitlines():
                    if line.lower().startswith(field.lower() + ":"):
                        return line.split(":", 1)[1].strip()
    return None


def documents(folder: Path) -> list[Path]:
    """A corpus folder's documents, in the order loaders read them (sorted relative path)."""
    folder = Path(folder)
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.lower().startswith(SKIP_PREFIXES) for part in p.relative_to(folder).parts)
    )


def corpus_digest(folder: Path) -> tuple[int, str]:
    """(total bytes, sha256 hex) of the folder's documents concatenated in loader order."""
    digest, size = hashlib.sha256(), 0
    for path in documents(folder):
        data = path.read_bytes()
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


def write_corpus(out_dir: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> text) as UTF-8 with ``\\n`` line ends; warn about other documents."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_bytes(text.encode("utf-8"))
    stale = [p.relative_to(out_dir).as_posix() for p in documents(out_dir)
             if p.relative_to(out_dir).as_posix() not in files]
    if stale:
        warnings.warn(f"{out_dir} also holds documents this recipe did not write, which loaders will "
                      f"read too: {', '.join(stale)}", stacklevel=3)
    return out_dir


# -- pieces shared by the on-demand recipes (linux, python-stdlib, debian-docs) --------------------

# The one message every recipe gives when its package cannot be fetched (issue 7).
FETCH_FAILED = ("apt-get is not available (or the package could not be downloaded): "
                "pass --from PATH with a local .deb, tarball or folder")
# Written by a recipe beside its documents (a dot-file, so loaders skip it): what it read and counted.
BUILD_INFO = ".build.json"


def apt_fetch(package: str, dest: Path, recipe: str) -> Path:
    """``apt-get download PACKAGE`` into ``dest``; any failure raises :data:`FETCH_FAILED` plus details."""
    example = f"e.g. `charnn corpus build {recipe} --from {package}_*.deb`"
    if shutil.which("apt-get") is None:
        raise RecipeError(f"{FETCH_FAILED} (`apt-get` is not installed; {example})")
    argv = ["apt-get", "download", package]
    try:
        proc = subprocess.run(argv, cwd=dest, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RecipeError(f"{FETCH_FAILED} (`{' '.join(argv)}` failed: {err}; {example})") from None
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise RecipeError(f"{FETCH_FAILED} (`{' '.join(argv)}` exited with {proc.returncode}"
                          f"{': ' + tail if tail else ''}; {example})")
    debs = sorted(Path(dest).glob("*.deb"))
    if len(debs) != 1:
        raise RecipeError(f"{FETCH_FAILED} (`{' '.join(argv)}` left {len(debs)} .deb files in {dest}, expected 1)")
    return debs[0]


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
        buf[:len(data)] = data
        self._left -= len(data)
        return len(data)


_STREAM_MODES = {"": "r|", ".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2"}


@contextlib.contextmanager
def deb_stream(path: Path, which: str = "data"):
    """The data (or control) tarball of a .deb as a *stream-mode* TarFile: iterate it once, in order.

    Unlike :func:`deb_tar` it never holds the .deb in memory, so it suits the 140 MB kernel package.
    zstd members are streamed through ``dpkg-deb`` (Python has no zstd decoder before 3.14).
    """
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise RecipeError(f"{path} is not a .deb (no ar header)")
        while True:
            header = f.read(60)
            if len(header) < 60:
                raise RecipeError(f"{path} has no {which}.tar.* member")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError:
                raise RecipeError(f"{path}: corrupt ar header") from None
            if not name.startswith(f"{which}.tar"):
                f.seek(size + (size & 1), 1)
                continue
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
            return


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


def loader_skips(relpath: str) -> bool:
    """True if corpus loaders would not read this path as a document (README*, LICENSE*, dot-files...)."""
    return any(part.lower().startswith(SKIP_PREFIXES) for part in relpath.split("/"))


def decode_source(data: bytes, non_utf8: str = "replace") -> tuple[str | None, str]:
    """(text or None to skip, status) for one source file: ``ok``, ``nul``, ``replaced``, ``latin-1``, ``skipped``.

    Files with NUL bytes are skipped (corpus loaders reject them); invalid UTF-8 is decoded with
    U+FFFD replacements (``non_utf8="replace"``), as Latin-1 (``"latin-1"``) or skipped (``"skip"``).
    """
    if b"\x00" in data:
        return None, "nul"
    try:
        return data.decode("utf-8"), "ok"
    except UnicodeDecodeError:
        pass
    if non_utf8 == "replace":
        return data.decode("utf-8", errors="replace"), "replaced"
    if non_utf8 == "latin-1":
        return data.decode("latin-1"), "latin-1"
    if non_utf8 == "skip":
        return None, "skipped"
    raise ValueError(f"non_utf8 must be 'replace', 'latin-1' or 'skip', not {non_utf8!r}")


def write_build_info(out_dir: Path, info: dict) -> None:
    """Record what a build read and counted in ``out_dir/.build.json`` (the cache folds it into its manifest)."""
    (Path(out_dir) / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_build_info(out_dir: Path) -> dict:
    path = Path(out_dir) / BUILD_INFO
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
