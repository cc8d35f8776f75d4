"""From a user's weights to a charnn run folder: the one place that knows how a user's vocabulary
maps onto charnn's.

charnn's vocabulary (charnn.vocab) reserves id 0 for an unknown character and id 1 for the boundary
between documents; the user's character k becomes charnn's id k + 2. The imported model reads the
two reserved ids as a zero input (a zero embedding row, or no one-hot column) and never predicts
them (their logit is IMPOSSIBLE, so their probability is 0 in float32 and every other character's
probability is the original model's): on text of the user's own characters, charnn's forward pass
is the original one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from ..fsio import atomic_dir
from ..model import CharRNN, ModelConfig
from ..run import RunFolder, create_run
from ..vocab import RESERVED, Vocab

IMPOSSIBLE = -1e4  # the logit of a reserved id: exp(-1e4) is 0 in float32


class ModelImportError(ValueError):
    """Weights or a vocabulary that do not make a character-level recurrent model."""


@dataclass
class Found:
    """A user's model, its tensors by charnn's role for them (float32, the user's vocabulary)."""

    cell: str  # lstm | gru | rnn
    layers: list[tuple[torch.Tensor, ...]]  # per layer: W_ih (G*H, in), W_hh (G*H, H), b_ih, b_hh (G*H,)
    head_weight: torch.Tensor  # (V, H)
    head_bias: torch.Tensor  # (V,)
    embedding: torch.Tensor | None = None  # (V, E); None: one-hot input


def to_charnn(found: Found, chars: list[str]) -> tuple[CharRNN, Vocab]:
    """The charnn model (ids shifted by the reserved ones, see the module docstring) and vocabulary."""
    n = len(RESERVED)
    H = found.layers[0][1].shape[1]
    V = len(chars) + n
    onehot = found.embedding is None
    config = ModelConfig(vocab_size=V, cell=found.cell, layers=len(found.layers), hidden=H,
                         embed=V if onehot else found.embedding.shape[1], encoding="onehot" if onehot else "embedding")
    state = {"head.weight": torch.cat([torch.zeros(n, H), found.head_weight]),  # (V, H)
             "head.bias": torch.cat([torch.full((n,), IMPOSSIBLE), found.head_bias])}
    if not onehot:
        state["embedding.weight"] = torch.cat([torch.zeros(n, found.embedding.shape[1]), found.embedding])  # (V, E)
    for l, (w_ih, w_hh, b_ih, b_hh) in enumerate(found.layers):
        if l == 0 and onehot:
            w_ih = torch.cat([torch.zeros(w_ih.shape[0], n), w_ih], dim=1)  # (G*H, V): no column for reserved ids
        state.update({f"rnn.weight_ih_l{l}": w_ih, f"rnn.weight_hh_l{l}": w_hh,
                      f"rnn.bias_ih_l{l}": b_ih, f"rnn.bias_hh_l{l}": b_hh})
    model = CharRNN(config)
    model.load_state_dict({k: v.float().contiguous() for k, v in state.items()})
    return model.eval(), Vocab(chars)


def write_run(out: str | Path, model: CharRNN, vocab: Vocab, source: Path, kind: str) -> Path:
    """A run folder at `out` (refused if something is there), config.json marked imported."""
    source = Path(source)
    imported = {"from": kind, "file": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                "reserved_ids": "0 (unknown) and 1 (document boundary) are charnn's; the model's id k is charnn's k + 2"}
    with atomic_dir(Path(out), lambda p: False, "folder") as tmp:
        create_run(tmp, model, vocab, imported=imported)
    return RunFolder(out).path


def check_head(found: Found, chars: list[str], names: dict[str, str], source: Path) -> None:
    """The shapes that must agree with the vocabulary and with each other, each error naming the parameter."""
    V, H = len(chars), found.layers[0][1].shape[1]
    if found.head_weight.shape != (V, H):
        raise ModelImportError(f"{source}: {names['head.weight']} is {tuple(found.head_weight.shape)} but the "
                               f"vocabulary has {V} characters and the layers {H} units: expected ({V}, {H})")
    if found.head_bias.shape != (V,):
        raise ModelImportError(f"{source}: {names['head.bias']} has {found.head_bias.numel()} entries, "
                               f"the vocabulary {V} characters")
    first_in = found.layers[0][0].shape[1]
    if found.embedding is None and first_in != V:
        raise ModelImportError(f"{source}: {names['weight_ih_l0']} reads {first_in} inputs but the vocabulary has "
                               f"{V} characters (one-hot input), and no embedding of {V} rows was found")
    if found.embedding is not None and found.embedding.shape != (V, first_in):
        raise ModelImportError(f"{source}: {names['embedding']} is {tuple(found.embedding.shape)}, expected "
                               f"({V}, {first_in}) for {V} characters")
