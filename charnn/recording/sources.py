"""What text to record or score: a file, a folder, a bundled corpus name, `val`/`test`/`train` for
that split of the run's own corpus, or a Corpus already in memory; returned as a Corpus
(documents + id-stream layout)."""

from __future__ import annotations

import hashlib

from ..corpus import Corpus, CorpusError, Document, load_corpus
from ..run import Run

SPLITS = ("train", "val", "test")


def text_corpus(run: Run, spec: str | Corpus, max_chars: int | None = None) -> Corpus:
    if isinstance(spec, Corpus):
        corpus = spec
    elif spec in SPLITS:
        info = run.config["corpus"]
        corpus = load_corpus(info["source"], errors=run.config["train"].get("encoding_errors", "strict"))
        start, stop = info["splits"][spec]
        if corpus.n_positions != info["n_chars"]:
            raise CorpusError(f"the corpus {info['source']} changed since {run.path} was trained: "
                              "record a file instead of a split")
        corpus = Corpus(corpus.slice_documents(start, stop), source=f"{info['source']}:{spec}")
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
