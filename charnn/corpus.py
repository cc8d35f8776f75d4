"""Corpus loading: a UTF-8 file, a folder of files (one document each), or a bundled corpus name.

    corpus = load_corpus("austen")              # corpora/austen/, six novels, six documents
    train, val, test = corpus.split_ids(vocab)  # contiguous 90/5/5 split of the id stream

The id stream is the documents' characters with `DOC_ID` between documents, so a model trained
on it sees where one document ends; positions in the stream map one-to-one to characters (the
separator counts as one position). Errors name the file and what to do.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .corpus_store import bundled_corpora, corpus_root
from .vocab import DOC_ID, Vocab

# A file whose path inside a corpus folder has a part starting with one of these is a note kept
# beside the documents (a NOTICE, a license, a build manifest), never a document.
NOTE_PREFIXES = ("readme", "license", "notice", "copying", ".")


class CorpusError(ValueError):
    """A corpus that cannot be used, with a message saying why and what to do."""


def is_document(relpath: str) -> bool:
    """Whether the file at ``relpath`` (POSIX, relative to its corpus folder) is a document, not a note."""
    return not any(part.lower().startswith(NOTE_PREFIXES) for part in PurePosixPath(relpath).parts)


def document_paths(folder: Path) -> list[Path]:
    """A corpus folder's documents in the order loaders read them (sorted path). A symbolic link
    inside the folder is skipped, with a notice: it may lead anywhere (/etc/passwd as training data)."""
    folder = Path(folder)
    found, links = [], []
    for p in sorted(folder.rglob("*")):
        inner = p.relative_to(folder)
        if any((folder / Path(*inner.parts[:i + 1])).is_symlink() for i in range(len(inner.parts))):
            links.append(inner.as_posix())
        elif p.is_file() and is_document(inner.as_posix()):
            found.append(p)
    if links:
        shown = ", ".join(links[:3]) + (f" and {len(links) - 3} more" if len(links) > 3 else "")
        warnings.warn(f"corpus folder {folder}: skipped {len(links)} symbolic link(s) ({shown}); copy the files in "
                      "to use them", stacklevel=2)
    return found


def looks_binary(data: bytes) -> bool:
    """True for bytes that are not text (a NUL anywhere): loaders refuse them, recipes skip them."""
    return b"\x00" in data


def resolve_corpus(spec: str | Path) -> list[Path]:
    """The document files of a corpus spec: a file, a folder, a bundled or a built name."""
    path = corpus_root(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = document_paths(path)
        if not files:
            raise CorpusError(f"corpus folder {path} holds no files")
        return files
    names = ", ".join(bundled_corpora()) or "none found"
    raise CorpusError(f"corpus {spec!r} is neither a file, a folder nor a bundled corpus (bundled: {names}); "
                      "`charnn corpus list` shows recipes such as linux that `charnn corpus build NAME` makes")


def read_text_file(path: Path, errors: str = "strict") -> str:
    """Read one UTF-8 document; binary files and bad UTF-8 raise CorpusError."""
    data = Path(path).read_bytes()
    if looks_binary(data):
        raise CorpusError(f"{path} looks binary (it contains NUL bytes): pass a text file")
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CorpusError(
            f"{path} is not valid UTF-8 at byte {err.start} (line {line}): convert it "
            f"(iconv -f latin1 -t utf-8) or pass --encoding-errors replace"
        ) from None
    return text.lstrip("\ufeff")


@dataclass
class Document:
    name: str
    text: str


class Corpus:
    """Documents plus the layout of their id stream (document i starts at `starts[i]`)."""

    def __init__(self, documents: list[Document], source: str = ""):
        self.documents = [d for d in documents if d.text]
        self.source = source
        if not self.documents:
            raise CorpusError(f"corpus {source or ''} is empty: it holds no characters")
        lengths = np.array([len(d.text) for d in self.documents], dtype=np.int64)
        # Each document but the first is preceded by one DOC_ID separator position.
        self.starts = np.concatenate([[0], np.cumsum(lengths[:-1] + 1)])
        self.n_positions = int(lengths.sum() + len(lengths) - 1)

    def split_bounds(self, fractions=(0.9, 0.05, 0.05)) -> dict[str, tuple[int, int]]:
        """Contiguous [start, stop) stream positions of each split."""
        if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
            raise CorpusError(f"split fractions {fractions} must be three positive numbers summing to 1")
        n = self.n_positions
        a = int(n * fractions[0])
        b = int(n * (fractions[0] + fractions[1]))
        if a < 2 or b - a < 2 or n - b < 2:
            raise CorpusError(f"corpus {self.source} has {n} characters: too short to split into train/val/test")
        return {"train": (0, a), "val": (a, b), "test": (b, n)}

    def slice_documents(self, start: int, stop: int) -> list[Document]:
        """The pieces of documents that fall in stream positions [start, stop)."""
        pieces = []
        for doc, doc_start in zip(self.documents, self.starts):
            lo, hi = max(start, doc_start), min(stop, doc_start + len(doc.text))
            if lo < hi:
                pieces.append(Document(doc.name, doc.text[lo - doc_start : hi - doc_start]))
        return pieces

    def build_vocab(self, fractions=(0.9, 0.05, 0.05)) -> Vocab:
        """Vocabulary of the training split only."""
        start, stop = self.split_bounds(fractions)["train"]
        return Vocab.from_texts(d.text for d in self.slice_documents(start, stop))

    def encode(self, vocab: Vocab) -> np.ndarray:
        """The whole id stream as int32 (DOC_ID between documents)."""
        ids = np.full(self.n_positions, DOC_ID, dtype=np.int32)
        for doc, start in zip(self.documents, self.starts):
            ids[start : start + len(doc.text)] = vocab.encode(doc.text)
        return ids

    def split_ids(self, vocab: Vocab, fractions=(0.9, 0.05, 0.05)) -> dict[str, np.ndarray]:
        ids = self.encode(vocab)
        return {name: ids[a:b] for name, (a, b) in self.split_bounds(fractions).items()}


def load_corpus(spec: str | Path, errors: str = "strict") -> Corpus:
    files = resolve_corpus(spec)
    root = corpus_root(spec)
    documents = []
    for f in files:
        name = str(f.relative_to(root)) if root.is_dir() else f.name
        documents.append(Document(name, read_text_file(f, errors)))
    return Corpus(documents, source=str(spec))
