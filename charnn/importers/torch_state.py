"""`charnn import torch MODEL.pt`: a PyTorch state_dict (saved with torch.save) of an embedding or
one-hot input, an nn.LSTM / nn.GRU / nn.RNN (tanh) of any number of layers, and a linear readout.

The file is loaded with weights_only=True only: a whole pickled module (code) is refused. The
recurrent layers are the parameters named as PyTorch names them (PREFIX + weight_ih_l0, ...;
the cell follows from weight_hh's rows: 4H LSTM, 3H GRU, H RNN); the readout is the (V, H) matrix
with a (V,) bias beside it, the embedding the (V, E) matrix that layer 0 reads. Where a name or
a shape leaves doubt, `--map ROLE=NAME` says it: roles embedding, head.weight, head.bias, rnn
(the layers' prefix, e.g. rnn=encoder.lstm.).

    import_torch("model.pt", vocab="vocab.txt", out="runs/mine", names={"head.weight": "decoder.weight"})
"""

from __future__ import annotations

import pickle
import re
from collections import defaultdict
from pathlib import Path

import torch

from .build import Found, ModelImportError, check_head, to_charnn, write_run
from .vocabulary import read_vocab

LAYER_PARAM = re.compile(r"^(?P<prefix>.*?)(?P<name>weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)(?P<rev>_reverse)?$")
CELL_OF_GATES = {4: "lstm", 3: "gru", 1: "rnn"}
ROLES = ("embedding", "head.weight", "head.bias", "rnn")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors by name (a state_dict, or the one state_dict inside a checkpoint dict)."""
    if not path.is_file():
        raise ModelImportError(f"{path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else "it holds code"
        raise ModelImportError(f"{path} is not a weights-only file, and charnn never unpickles code ({reason[:120]}): "
                               "save model.state_dict() with torch.save and import that") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for a file that is not its own
        raise ModelImportError(f"{path} is not a PyTorch file torch.load reads ({type(err).__name__})") from None
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    if isinstance(obj, dict):
        inner = [v for v in obj.values() if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor) for t in v.values())]
        if len(inner) == 1:
            return dict(inner[0])
    raise ModelImportError(f"{path} holds no state_dict (a dict of tensors): save model.state_dict() and import that")


def _layers(tensors: dict, prefix: str | None, path: Path) -> tuple[str, list[tuple], dict]:
    """(cell, per-layer (W_ih, W_hh, b_ih, b_hh), {role: name}) of the recurrent layers."""
    groups: dict[str, dict] = defaultdict(dict)
    for name in tensors:
        m = LAYER_PARAM.match(name)
        if m and (prefix is None or m["prefix"] == prefix):
            if m["rev"]:
                raise ModelImportError(f"{path}: {name} is a bidirectional layer's; a character model reads left to right")
            groups[m["prefix"]][(m["name"], int(m["layer"]))] = name
    if not groups:
        raise ModelImportError(f"{path} is not a recurrent char model: no parameter named like nn.LSTM/GRU/RNN's "
                               f"{prefix or ''}weight_ih_l0 (name its layers' prefix with --map rnn=PREFIX)")
    if len(groups) > 1:
        raise ModelImportError(f"{path} has several recurrent modules ({', '.join(repr(p) for p in groups)}): "
                               "pick one with --map rnn=PREFIX")
    prefix, names = next(iter(groups.items()))
    depth = 1 + max(layer for _, layer in names)
    w_hh0 = tensors.get(names.get(("weight_hh", 0), ""))
    if w_hh0 is None or w_hh0.dim() != 2 or w_hh0.shape[0] % w_hh0.shape[1]:
        raise ModelImportError(f"{path}: {prefix}weight_hh_l0 is missing or not (G*H, H)")
    H = w_hh0.shape[1]
    cell = CELL_OF_GATES.get(w_hh0.shape[0] // H)
    if cell is None:
        raise ModelImportError(f"{path}: {prefix}weight_hh_l0 is {tuple(w_hh0.shape)}, {w_hh0.shape[0] // H} gates "
                               "of H: not an LSTM (4), GRU (3) or RNN (1)")
    G = w_hh0.shape[0]
    w_ih0 = tensors.get(names.get(("weight_ih", 0), ""))
    first_in = w_ih0.shape[-1] if w_ih0 is not None else None
    layers = []
    for l in range(depth):
        want = {"weight_ih": (G, H if l else first_in), "weight_hh": (G, H), "bias_ih": (G,), "bias_hh": (G,)}
        got = {}
        for part, shape in want.items():
            name = names.get((part, l))
            if name is None and part.startswith("bias"):
                got[part] = torch.zeros(G)  # a layer made with bias=False
                continue
            t = tensors.get(name) if name else None
            if t is None or tuple(t.shape) != shape:
                raise ModelImportError(f"{path}: {prefix}{part}_l{l} is {'missing' if t is None else tuple(t.shape)}, "
                                       f"expected {shape} for a {depth}-layer {cell} of {H} units")
            got[part] = t.float()
        layers.append((got["weight_ih"], got["weight_hh"], got["bias_ih"], got["bias_hh"]))
    used = {n for n in names.values()}
    return cell, layers, {"rnn": prefix, "weight_ih_l0": names[("weight_ih", 0)], "used": used}


def _pick(path: Path, role: str, candidates: list[str], mapped: str | None, tensors: dict) -> str | None:
    """The one parameter for `role`: the --map name, or the single candidate; None if there is none."""
    if mapped is not None:
        if mapped not in tensors:
            raise ModelImportError(f"{path} has no parameter {mapped!r} (--map {role}={mapped})")
        return mapped
    if len(candidates) > 1:
        raise ModelImportError(f"{path}: {role} could be any of {', '.join(candidates)}: say which with --map {role}=NAME")
    return candidates[0] if candidates else None


def find(tensors: dict, V: int, path: Path, names: dict | None = None) -> tuple[Found, dict]:
    """The model's parts by role (see the module docstring), or a ModelImportError naming what is wrong."""
    names = dict(names or {})
    unknown = set(names) - set(ROLES)
    if unknown:
        raise ModelImportError(f"--map roles {sorted(unknown)} are not known: use {', '.join(ROLES)}")
    cell, layers, where = _layers(tensors, names.get("rnn"), path)
    H, first_in = layers[0][1].shape[1], layers[0][0].shape[1]
    rest = {n: t for n, t in tensors.items() if n not in where["used"] and t.dim() in (1, 2)}
    def has_bias(name: str, t: torch.Tensor) -> bool:  # a Linear's weight: a (rows,) bias beside it
        return rest.get(name.rsplit("weight", 1)[0] + "bias", torch.empty(0)).shape == (t.shape[0],)

    biased = {n for n, t in rest.items() if t.dim() == 2 and has_bias(n, t)}
    heads = [n for n, t in rest.items() if t.dim() == 2 and t.shape == (V, H) and n in biased]
    if not heads:  # a readout without a bias, or none of this vocabulary's size: report what there is
        heads = [n for n, t in rest.items() if t.dim() == 2 and t.shape[1] == H and n in biased] or \
                [n for n, t in rest.items() if t.dim() == 2 and t.shape == (V, H)]
    head = _pick(path, "head.weight", heads, names.get("head.weight"), tensors)
    if head is None:
        raise ModelImportError(f"{path}: no readout found (a ({V}, {H}) matrix for {V} characters and {H} units): "
                               "name it with --map head.weight=NAME")
    bias_name = names.get("head.bias") or (head.rsplit("weight", 1)[0] + "bias" if head in biased else None)
    embeddings = [n for n, t in rest.items() if t.dim() == 2 and t.shape == (V, first_in) and n != head and n not in biased]
    embedding = _pick(path, "embedding", embeddings, names.get("embedding"), tensors)
    if embedding is None and first_in != V:  # not one-hot either: name the table that disagrees
        others = [n for n, t in rest.items() if t.dim() == 2 and t.shape[1] == first_in and n != head and n not in biased]
        if len(others) == 1:
            raise ModelImportError(f"{path}: {others[0]} is {tuple(tensors[others[0]].shape)} but the vocabulary has "
                                   f"{V} characters: expected ({V}, {first_in})")
    found = Found(cell, layers, tensors[head].float(),
                  tensors[bias_name].float() if bias_name else torch.zeros(tensors[head].shape[0]),
                  tensors[embedding].float() if embedding else None)
    return found, {**where, "head.weight": head, "head.bias": bias_name or "(no bias)", "embedding": embedding}


def import_torch(model: str | Path, vocab: str | Path, out: str | Path, names: dict | None = None) -> Path:
    """Import a PyTorch state_dict as the run folder `out` (see the module docstring); returns it."""
    path = Path(model)
    tensors = load_state_dict(path)
    chars = read_vocab(vocab)
    found, where = find(tensors, len(chars), path, names)
    check_head(found, chars, where, path)
    net, charnn_vocab = to_charnn(found, chars)
    return write_run(out, net, charnn_vocab, path, "torch")
