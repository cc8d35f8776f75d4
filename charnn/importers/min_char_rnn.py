"""`charnn import min-char-rnn PARAMS.npz`: the parameters of Karpathy's min-char-rnn.py, a vanilla
RNN on one-hot characters,

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)      y_t = Why h_t + by

saved with numpy: np.savez("params.npz", Wxh=Wxh, Whh=Whh, Why=Why, bh=bh, by=by) (float64,
biases as columns). They become charnn's one-layer RNN with one-hot input (float32).

    import_min_char_rnn("params.npz", vocab="vocab.json", out="runs/karpathy")
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from .build import Found, ModelImportError, check_head, to_charnn, write_run
from .vocabulary import read_vocab

NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def load_params(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ModelImportError(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ModelImportError(f"{path} is not a numpy .npz of arrays ({str(err)[:100]})") from None
    missing = [n for n in NAMES if n not in arrays]
    if missing:
        raise ModelImportError(f"{path} is not min-char-rnn's parameters: no {', '.join(missing)} "
                               f"(it holds {', '.join(sorted(arrays)) or 'nothing'})")
    return arrays


def import_min_char_rnn(params: str | Path, vocab: str | Path, out: str | Path) -> Path:
    """Import min-char-rnn's parameters as the run folder `out`; returns it."""
    path = Path(params)
    a = load_params(path)
    chars = read_vocab(vocab)
    V = len(chars)
    H = a["Whh"].shape[0] if a["Whh"].ndim == 2 else -1
    for name, shape in (("Whh", (H, H)), ("Wxh", (H, V)), ("bh", (H, 1)), ("Why", (V, H)), ("by", (V, 1))):
        if a[name].shape != shape and not (name in ("bh", "by") and a[name].shape == shape[:1]):
            raise ModelImportError(f"{path}: {name} is {a[name].shape}, expected {shape} for {V} characters "
                                   f"(the vocabulary) and {H} units")
    t = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in a.items() if k in NAMES}
    found = Found("rnn", [(t["Wxh"], t["Whh"], t["bh"].reshape(-1), torch.zeros(H))], t["Why"], t["by"].reshape(-1))
    check_head(found, chars, {"head.weight": "Why", "head.bias": "by", "weight_ih_l0": "Wxh"}, path)
    model, charnn_vocab = to_charnn(found, chars)
    return write_run(out, model, charnn_vocab, path, "min-char-rnn")
