"""Shared pieces of the corpus recipes: registry clients, Debian archives, digests (standard library only)."""

from __future__ import annotations

import hashlib
import io
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
