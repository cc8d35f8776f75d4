"""A run folder: what training leaves behind, and loading it back without unpickling code.

    runs/<run>/
      config.json          model, training and corpus settings (JSON)
      vocab.json           the characters, in id order
      model.safetensors    weights of the best validation step
      checkpoint.pt        last state to resume from (tensors and numbers only; weights_only load)
      metrics.csv          one row per step: step, seconds, lr, train bpc, chars/s, val bpc
      summary.json         best and final numbers, test bpc
      recordings/<name>/   recorded states (see charnn.recording)
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .fsio import atomic_path, write_json
from .model import CharRNN, ModelConfig
from .vocab import Vocab

WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.pt"


class RunError(FileNotFoundError):
    """A run folder that is missing or incomplete."""


@dataclass
class Run:
    path: Path
    config: dict  # the whole config.json
    vocab: Vocab
    model: CharRNN

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config


def save_weights(model: CharRNN, path: Path) -> None:
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def create_run(path: Path, model: CharRNN, vocab: Vocab, **sections) -> Path:
    """Write a loadable run folder (config, vocabulary, weights) for `model`; `sections` are
    extra config.json entries (the trainer adds train and corpus)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab.save(path / "vocab.json")
    write_json(path / "config.json", {"model": asdict(model.config), **sections})
    save_weights(model, path / WEIGHTS)
    return path


def load_run(path: str | Path, weights: str = WEIGHTS) -> Run:
    """Load a run's config, vocabulary and weights (best validation unless told otherwise)."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} does not exist: train one with `charnn train CORPUS --out {path}`")
    for name in ("config.json", "vocab.json", weights):
        if not (path / name).is_file():
            raise RunError(f"run folder {path} has no {name}: training did not reach its first evaluation")
    config = json.loads((path / "config.json").read_text())
    vocab = Vocab.load(path / "vocab.json")
    model = CharRNN(ModelConfig(**config["model"]))
    model.load_state_dict(load_file(str(path / weights)))
    model.eval()
    return Run(path, config, vocab, model)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def save_checkpoint(payload: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def model_on(run: Run, device: torch.device | str) -> torch.nn.Module:
    """The run's model on `device`: itself when it is there already, else a copy (the run is not moved)."""
    model, device = run.model, torch.device(device)
    if next(model.parameters()).device == device:
        return model
    return copy.deepcopy(model).to(device)
