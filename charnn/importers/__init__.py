"""Bring a model charnn did not train: its weights become a run folder like any other (marked
imported in config.json, no training history), so record, search, explain, the dashboard and
ablation work on it unchanged.

    from charnn.importers import import_torch, import_min_char_rnn
    import_torch("model.pt", vocab="vocab.txt", out="runs/mine")             # charnn import torch ...
    import_min_char_rnn("params.npz", vocab="vocab.json", out="runs/karpathy")

Modules: vocabulary (the user's characters in id order), torch_state (a PyTorch state_dict:
parameters found by name pattern and shape, or named with --map), min_char_rnn (Karpathy's numpy
parameters), build (the charnn model and its run folder). See docs/models.md.
"""

from .build import ModelImportError
from .min_char_rnn import import_min_char_rnn
from .torch_state import import_torch
from .vocabulary import read_vocab

__all__ = ["ModelImportError", "import_min_char_rnn", "import_torch", "read_vocab"]
