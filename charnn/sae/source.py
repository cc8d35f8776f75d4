"""The model and the text behind a recording, for the passes that run the model again (the loss
with a reconstruction spliced in, latent ablation).

The run is the recording's parent's parent (`RUN/recordings/NAME`), or else the run folder its
meta.json names (a recording written elsewhere with `out=`); either way its weights must be the
ones the recording was made with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..recording import RecordingError
from ..recording.sources import sha256_text
from ..recording.writer import model_hash
from ..run import RECORDINGS, Run, RunFolder, load_run
from ..vocab import DOC_ID


def recording_run(rec) -> Run:
    """The run whose model made `rec`, checked against the recording's model hash."""
    parent = Path(rec.path).resolve().parent
    candidates = [parent.parent] if parent.name == RECORDINGS else []
    if rec.meta.get("run"):
        candidates.append(Path(rec.meta["run"]))
    for folder in candidates:
        if RunFolder(folder).is_run():
            run = load_run(folder)
            if model_hash(run) != rec.meta.get("model_sha256"):
                raise RecordingError(f"the weights in {folder} are not the ones {rec.path} was recorded with: "
                                     "record the text again with this run")
            return run
    raise RecordingError(f"cannot find the run that made {rec.path}: it is neither in RUN/recordings/ nor is "
                         f"{rec.meta.get('run')!r} (its meta.json's run) a run folder")


def recording_ids(rec, run: Run) -> np.ndarray:
    """The recording's text as the model read it: (n_chars,) ids, DOC_ID between documents."""
    string = rec.string
    if sha256_text(string) != rec.meta.get("source_sha256"):
        raise RecordingError(f"{rec.path}/text.parquet does not hold the text the recording was made from")
    ids = run.vocab.encode(string)
    doc = rec.text["doc"].to_numpy()
    ids[:-1][doc[1:] != doc[:-1]] = DOC_ID  # the separator position ends the previous document
    return ids
