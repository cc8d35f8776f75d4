"""charnn: train character-level RNNs and find out what their neurons do.

Python API (the CLI and the dashboard call the same functions):

    from charnn import load_run, generate, record, open_recording
    run = load_run("runs/austen")
    print(generate(run.model, run.vocab, "Elizabeth", 200, seed=0))
    rec = open_recording(record(run, "val"))

Names are imported on first use, so `import charnn` stays cheap (no torch until needed).
"""

from . import threads
from .lazy import lazy_exports

threads.before_torch()  # OpenMP reads its wait policy when torch loads: set it before anything imports torch

_EXPORTS = {
    "CorpusError": "corpus", "load_corpus": "corpus",
    "CharRNN": "model", "ModelConfig": "model",
    "RunError": "run", "load_run": "run",
    "generate": "sample",
    "Trainer": "train", "TrainConfig": "train", "evaluate_bpc": "train",
    "Vocab": "vocab",
    "Stepper": "stepper", "Intervention": "stepper", "StateHook": "stepper",
    "record": "recording", "open_recording": "recording", "Recording": "recording", "RecordingError": "recording",
    "explain": "explanations", "load_explanations": "explanations",
    "memory_spans": "attribution", "attribute": "attribution", "circuit": "attribution",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
