"""CharRNN: an input encoding (embedding or one-hot) -> L recurrent layers of one cell -> linear
over characters.

This module holds the *fast path* used for training and plain inference: the cell's stack
(`nn.LSTM`/`nn.GRU`/`nn.RNN` with oneDNN or cuDNN, the parallel scan of minGRU/minLSTM). The
recording path (`charnn.stepper`) runs the same weights step by step through the cell protocol
(`charnn.cells`): `model.layer(l)` is layer l's equations on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import cells

ENCODINGS = ("embedding", "onehot")


@dataclass
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"  # lstm | gru | rnn | mingru | minlstm | a registered cell (charnn.cells)
    layers: int = 2
    hidden: int = 256
    embed: int = 64  # embedding width of each character (encoding "embedding")
    dropout: float = 0.0  # between recurrent layers and before the output layer (training only)
    encoding: str = "embedding"  # embedding | onehot (the input is the character's one-hot vector)

    def __post_init__(self):
        cells.get(self.cell)
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {self.encoding!r}")
        for name in ("vocab_size", "layers", "hidden", "embed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def input_size(self) -> int:
        """The width of layer 0's input."""
        return self.embed if self.encoding == "embedding" else self.vocab_size


class OneHot(nn.Module):
    """ids (...) -> (..., V) one-hot rows; `weight` is the (V, V) identity, as an embedding's table."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    @property
    def weight(self) -> torch.Tensor:
        return torch.eye(self.vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.one_hot(ids, self.vocab_size).float()


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.cell = cells.get(config.cell)
        self.embedding = (nn.Embedding(config.vocab_size, config.embed) if config.encoding == "embedding"
                          else OneHot(config.vocab_size))
        self.rnn = self.cell.stack(config.input_size, config.hidden, config.layers, config.dropout)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def layer(self, layer: int) -> cells.Cell:
        """Layer `layer`'s equations (the cell protocol) on this model's weights."""
        return self.cell(self.cell.weights_of(self.rnn, layer), self.config.hidden)

    def input_table(self) -> torch.Tensor:
        """(V, in): layer 0's input for every character (the embedding table, or the identity)."""
        return self.embedding.weight.to(self.head.weight.device)

    def init_state(self, batch: int, device=None):
        """Zero state: one (L, B, H) tensor per carried kind ((h, c) for LSTM), a tensor for one."""
        zeros = [tuple(torch.zeros(batch, self.config.hidden, device=device) for _ in self.cell.carried)
                 for _ in range(self.config.layers)]
        return cells.protocol.join_states(zeros, self.cell)

    def forward(self, ids: torch.Tensor, state=None):
        """ids (B, T) int -> logits (B, T, V), final state."""
        x = self.embedding(ids)  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.drop(out)), state


def detach_state(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
