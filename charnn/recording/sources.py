"""What text to record or score: a file, a folder, a bundled corpus name, `val`/`test`/`train` for
that split of the run's own corpus, or a Corpus already in memory; returned as a Corpus
(documents + id-stream layout), and as the TextSource that part writers read (the string, its
ids, and each position's line and column).

    source = TextSource.load(run.path, "val", vocab)   # what any process can rebuild
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..corpus import Corpus, Document, load_corpus
from ..run import Run, RunFolder
from ..vocab import UNK_ID, Vocab

SPLITS = ("train", "val", "test")


def text_corpus(run: Run, spec: str | Corpus, max_chars: int | None = None) -> Corpus:
    return corpus_of(run.path, spec, max_chars)


def corpus_of(run_path: Path, spec: str | Corpus, max_chars: int | None = None) -> Corpus:
    """The corpus of a text spec; a split name is that split of the run's corpus (the run folder says which)."""
    if isinstance(spec, Corpus):
        corpus = spec
    elif spec in SPLITS:
        corpus = RunFolder(run_path).corpus_split(spec)
    else:
        corpus = load_corpus(spec)
    if max_chars is not None:
        if max_chars < 1:
            raise ValueError(f"--max-chars must be positive, not {max_chars}")
        corpus = Corpus(truncate(corpus, max_chars), source=corpus.source)
    return corpus


def truncate(corpus: Corpus, max_chars: int) -> list[Document]:
    return corpus.slice_documents(0, max_chars)


def corpus_string(corpus: Corpus) -> str:
    """The recorded text, one character per stream position: documents joined by a newline."""
    return "\n".join(d.text for d in corpus.documents)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class TextSource:
    """The text a recording reads: its string, its ids (DOC_ID between documents) and documents."""
    string: str
    ids: np.ndarray  # (n,) int32
    starts: np.ndarray  # (documents,) first position of each document
    names: list[str]
    source: str  # where it came from (a path, a corpus name, "corpus:split")
    newlines: np.ndarray  # (documents,) newlines in the string before each document's start

    @classmethod
    def from_corpus(cls, corpus: Corpus, vocab: Vocab) -> "TextSource":
        per_doc = np.array([d.text.count("\n") + 1 for d in corpus.documents])  # its newlines and its join
        return cls(corpus_string(corpus), corpus.encode(vocab), np.asarray(corpus.starts),
                   [d.name for d in corpus.documents], corpus.source,
                   np.concatenate([[0], np.cumsum(per_doc[:-1])]))

    @classmethod
    def load(cls, run_path: Path, spec: str, vocab: Vocab, max_chars: int | None = None) -> "TextSource":
        return cls.from_corpus(corpus_of(Path(run_path), spec, max_chars), vocab)

    @property
    def sha256(self) -> str:
        return sha256_text(self.string)

    @property
    def unknown(self) -> int:
        return int((self.ids == UNK_ID).sum())

    def positions(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc, line, col) int32 of positions [start, stop): 0-based, line and column within the document."""
        pos = np.arange(start, stop, dtype=np.int64)
        chunk = self.string[start:stop]
        nl = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) == 10
        before = self.string.count("\n", 0, start) + np.cumsum(nl) - nl  # newlines before each position
        last = np.maximum.accumulate(np.where(nl, pos, -1).clip(min=self.string.rfind("\n", 0, start)))
        prev_last = np.concatenate([[self.string.rfind("\n", 0, start)], last[:-1]])  # last newline before each
        doc = np.searchsorted(self.starts, pos, side="right") - 1
        return (doc.astype(np.int32), (before - self.newlines[doc]).astype(np.int32),
                (pos - prev_last - 1).astype(np.int32))
