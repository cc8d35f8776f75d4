"""charnn: train character-level RNNs and find out what their neurons do.

Python API (the CLI and the dashboard call the same functions):

    from charnn import load_corpus, load_run, generate
    run = load_run("runs/austen")
    print(generate(run.model, run.vocab, "Elizabeth", 200, seed=0))
"""

from .corpus import CorpusError, load_corpus
from .model import CharRNN, ModelConfig
from .run import RunError, load_run
from .sample import generate
from .train import Trainer, TrainConfig, evaluate_bpc
from .vocab import Vocab

__all__ = [
    "CharRNN", "CorpusError", "ModelConfig", "RunError", "TrainConfig", "Trainer", "Vocab",
    "evaluate_bpc", "generate", "load_corpus", "load_run",
]
