"""The model and the text behind a recording, for the passes that run the model again (the loss
with an autoencoder's reconstruction spliced in, an ablation on the recording's own text).

    run = recording_run(rec)           # the recording's copy of the weights, checked against its hash
    ids = recording_ids(rec, run)      # (n_chars,) the ids the model read, DOC_ID between documents

The model is the recording's own copy of the weights (REC/model.safetensors), so a recording
moved away from its run still works; its hash must be the one the manifest names.
"""

from __future__ import annotations

import numpy as np

from ..run import Run
from ..vocab import DOC_ID
from .manifest import RecordingError, load_model, model_hash
from .sources import sha256_text


def recording_run(rec) -> Run:
    """The model that made `rec` (with its vocabulary), checked against the recording's model hash."""
    model, vocab = load_model(rec.path, rec.meta)
    if model_hash(model) != rec.meta.get("model_sha256"):
        raise RecordingError(f"the weights in {rec.path} are not the ones its meta.json names: record the text again")
    return Run(path=rec.path, config={"model": rec.meta["model"]}, vocab=vocab, model=model)


def recording_ids(rec, run: Run) -> np.ndarray:
    """The recording's text as the model read it: (n_chars,) ids, DOC_ID between documents."""
    string = rec.string
    if sha256_text(string) != rec.meta.get("source_sha256"):
        raise RecordingError(f"{rec.path}/text.parquet does not hold the text the recording was made from")
    ids = run.vocab.encode(string)
    doc = rec.text["doc"].to_numpy()
    ids[:-1][doc[1:] != doc[:-1]] = DOC_ID  # the separator position ends the previous document
    return ids
