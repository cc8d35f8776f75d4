"""Corpus loading, vocabulary and batching: `pytest tests/test_corpus.py`."""

import numpy as np
import pytest

from charnn.batches import StreamBatches
from charnn.corpus import CorpusError, load_corpus
from charnn.corpus_store import bundled_corpora
from charnn.vocab import DOC_ID, UNK_ID, Vocab


def test_vocab_round_trip_and_unknown_characters(tmp_path):
    vocab = Vocab.from_texts(["hello world"])
    ids = vocab.encode("hello ☃")
    assert vocab.decode(ids[:5]) == "hello"
    assert ids[-1] == UNK_ID
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == vocab


def test_folder_keeps_document_boundaries(tmp_path):
    (tmp_path / "a.txt").write_text("abc")
    (tmp_path / "b.txt").write_text("de")
    (tmp_path / "README.md").write_text("not a document")
    corpus = load_corpus(tmp_path)
    assert [d.name for d in corpus.documents] == ["a.txt", "b.txt"]
    ids = corpus.encode(Vocab.from_texts(["abcde"]))
    assert ids.tolist()[3] == DOC_ID and len(ids) == 6


def test_bundled_corpus_by_name():
    assert "austen" in bundled_corpora()
    corpus = load_corpus("austen")
    assert len(corpus.documents) == 6 and corpus.n_positions > 3_000_000
    bounds = corpus.split_bounds()
    assert bounds["train"][1] == bounds["val"][0] and bounds["val"][1] == bounds["test"][0]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    (b"caf\xe9 au lait", "not valid UTF-8 at byte 3"),
])
def test_bad_corpus_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(path)


def test_missing_corpus_names_the_bundled_ones():
    with pytest.raises(CorpusError, match="austen"):
        load_corpus("no-such-corpus")


def test_stream_batches_continue_each_other():
    ids = np.arange(1001, dtype=np.int32)
    batches = StreamBatches(ids, batch=4, seq_len=10)
    x0, y0 = batches.window(0)
    x1, _ = batches.window(10)
    assert x0.shape == (4, 10)
    assert (y0[:, :-1] == x0[:, 1:]).all() and (x1[:, 0] == y0[:, -1]).all()
    assert x0[1, 0] == batches.stream_len  # stream 1 starts where stream 0's share ends
