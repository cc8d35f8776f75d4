"""CharRNN: embedding -> L recurrent layers (LSTM, GRU or vanilla RNN) -> linear over characters.

This module holds the *fast path* (`nn.LSTM`/`nn.GRU`/`nn.RNN`, oneDNN on CPU, cuDNN on GPU)
used for training and plain inference. The recording path in `charnn.stepper` writes the same
equations out gate by gate, on the same weights, to expose every state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
STATE_KINDS = {  # kinds of per-step state each cell exposes in the recording path
    "lstm": ("i", "f", "g", "o", "c", "h"),
    "gru": ("r", "z", "n", "h"),
    "rnn": ("h",),
}


@dataclass
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"  # lstm | gru | rnn
    layers: int = 2
    hidden: int = 256
    embed: int = 64  # embedding width of each character
    dropout: float = 0.0  # between recurrent layers and before the output layer (training only)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {self.cell!r}")
        for name in ("vocab_size", "layers", "hidden", "embed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        return cls(**json.loads(Path(path).read_text()))


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.rnn = CELLS[config.cell](
            config.embed, config.hidden, num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0, batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def init_state(self, batch: int, device=None):
        """Zero state: (h, c) for LSTM, h otherwise; each (L, B, H)."""
        zeros = torch.zeros(self.config.layers, batch, self.config.hidden, device=device)
        return (zeros, zeros.clone()) if self.config.cell == "lstm" else zeros

    def forward(self, ids: torch.Tensor, state=None):
        """ids (B, T) int -> logits (B, T, V), final state."""
        x = self.embedding(ids)  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.drop(out)), state


def detach_state(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

