"""What a recipe writes: documents by the loaders' rule, notes beside them, counts and a digest.

    writer = DocumentWriter(out_dir, non_utf8="replace")
    writer.add("kernel/fork.c", data)      # a source file, kept unless it cannot be a document
    writer.add_text("emma.txt", text)      # a document the recipe made
    writer.add_note("NOTICE", notice)      # a note beside them (loaders skip it)
    writer.counts()                        # files, bytes and why others were skipped

The rule for which paths are documents is :func:`charnn.corpus.is_document`, and for which bytes
are text :func:`charnn.corpus.looks_binary`: the loaders' own, so a recipe never writes a
document that loading would refuse or skip. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..corpus import document_paths, is_document, looks_binary

NON_UTF8_POLICIES = ("replace", "latin-1", "skip")
# What the recipes count as a URL in their figures (URLs per MB).
URL_RE = re.compile(r"""https?://[^\s"'<>\\]+""")
# Written by a recipe beside its documents (a dot-file, so loaders skip it): what it read and counted.
BUILD_INFO = ".build.json"


def _check_policy(non_utf8: str) -> None:
    if non_utf8 not in NON_UTF8_POLICIES:
        raise ValueError(f"non_utf8 must be one of {', '.join(NON_UTF8_POLICIES)}, not {non_utf8!r}")


def decode_source(data: bytes, non_utf8: str = "replace") -> tuple[str | None, str]:
    """(text or None to skip, status) for one source file: ``ok``, ``nul``, ``replaced``, ``latin-1``, ``skipped``.

    Binary files (NUL bytes) are skipped; invalid UTF-8 is decoded with U+FFFD replacements
    (``non_utf8="replace"``), as Latin-1 (``"latin-1"``) or skipped (``"skip"``).
    """
    _check_policy(non_utf8)
    if looks_binary(data):
        return None, "nul"
    try:
        return data.decode("utf-8"), "ok"
    except UnicodeDecodeError:
        pass
    if non_utf8 == "replace":
        return data.decode("utf-8", errors="replace"), "replaced"
    if non_utf8 == "latin-1":
        return data.decode("latin-1"), "latin-1"
    return None, "skipped"


class DocumentWriter:
    """Writes a corpus folder's documents and notes, and counts what it kept and skipped."""

    def __init__(self, out: Path, non_utf8: str = "replace"):
        _check_policy(non_utf8)
        self.out, self.non_utf8 = Path(out), non_utf8
        self.sizes: dict[str, int] = {}  # document path -> bytes written (a repeated path counts once)
        self.skipped = {"reserved_name": 0, "empty": 0, "nul": 0, "non_utf8": 0}

    def add(self, rel: str, data: bytes) -> bool:
        """Keep a source file as the document ``rel``, bytes unchanged when they are UTF-8; False if skipped.

        Skipped: a path loaders treat as a note (``README``, ``LICENSE``, dot-files...), an empty
        file, a binary one, and invalid UTF-8 under ``non_utf8="skip"``; each is counted.
        """
        if not is_document(rel):
            self.skipped["reserved_name"] += 1
            return False
        if not data:
            self.skipped["empty"] += 1
            return False
        text, status = decode_source(data, self.non_utf8)
        if status not in ("ok", "nul"):
            self.skipped["non_utf8"] += 1  # counted whether replaced, read as Latin-1 or skipped
        if text is None:
            self.skipped["nul"] += status == "nul"
            return False
        self._write(rel, data if status == "ok" else text.encode("utf-8"))
        return True

    def add_text(self, rel: str, text: str) -> None:
        """Write a document the recipe made, as UTF-8."""
        if not is_document(rel):
            raise ValueError(f"{rel!r} is a note's name, which loaders skip: name the document otherwise")
        self._write(rel, text.encode("utf-8"))

    def add_note(self, rel: str, text: str) -> None:
        """Write a note beside the documents (NOTICE, a license text): loaders do not read it."""
        if is_document(rel):
            raise ValueError(f"{rel!r} would be read as a document: notes start with README, LICENSE, "
                             f"NOTICE, COPYING or a dot")
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def _write(self, rel: str, raw: bytes) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        self.sizes[rel] = len(raw)

    def counts(self) -> dict[str, int]:
        """Documents written, their bytes, and the files skipped by reason."""
        return {"files": len(self.sizes), "bytes": sum(self.sizes.values()), **self.skipped}


def count_urls(text: str) -> int:
    return len(URL_RE.findall(text))


def url_stats(folder: Path) -> dict[str, str]:
    """A recipe's figures for the CLI: URLs and URLs per MB (10^6 bytes) of the folder's documents."""
    data = [p.read_bytes() for p in document_paths(folder)]
    size = sum(len(d) for d in data)
    urls = sum(count_urls(d.decode("utf-8", "replace")) for d in data)
    return {"urls": str(urls), "urls_per_mb": f"{urls / max(size, 1) * 1e6:.0f}"}


def line_stats(folder: Path) -> dict[str, str]:
    """A recipe's figures for the CLI: documents and lines."""
    docs = document_paths(folder)
    return {"files": str(len(docs)), "lines": str(sum(p.read_bytes().count(b"\n") for p in docs))}


def corpus_digest(folder: Path) -> tuple[int, str]:
    """(total bytes, sha256 hex) of the folder's documents concatenated in loader order."""
    digest, size = hashlib.sha256(), 0
    for path in document_paths(folder):
        data = path.read_bytes()
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


def write_build_info(out_dir: Path, info: dict) -> None:
    """Record what a build read and counted in ``out_dir/.build.json`` (the cache folds it into its manifest)."""
    (Path(out_dir) / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_build_info(out_dir: Path) -> dict:
    try:
        return json.loads((Path(out_dir) / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
