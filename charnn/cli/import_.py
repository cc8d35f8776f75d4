"""`charnn import torch MODEL.pt` / `charnn import min-char-rnn PARAMS.npz`: a model charnn did not
train, as a run folder (see charnn.importers and docs/models.md).

    charnn import torch model.pt --vocab vocab.txt --out runs/mine [--map head.weight=decoder.weight]
    charnn import min-char-rnn params.npz --vocab vocab.json --out runs/karpathy
"""

from __future__ import annotations

from ..importers import import_min_char_rnn, import_torch
from . import CLIError

VOCAB_HELP = ("the model's characters in id order: a file holding a JSON list of characters, or the characters "
              "themselves as its exact text")


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="import a model charnn did not train (PyTorch state_dict, min-char-rnn)")
    kinds = p.add_subparsers(dest="source", required=True)
    t = kinds.add_parser("torch", help="a state_dict of an embedding or one-hot input, nn.LSTM/GRU/RNN, a linear readout")
    t.add_argument("model", help="the .pt file (torch.save of model.state_dict(); loaded weights-only)")
    t.add_argument("--map", action="append", default=[], metavar="ROLE=NAME",
                   help="name a parameter where the shapes leave doubt: embedding=, head.weight=, head.bias=, "
                        "rnn=PREFIX (repeatable)")
    m = kinds.add_parser("min-char-rnn", help="Karpathy's min-char-rnn parameters (np.savez of Wxh, Whh, Why, bh, by)")
    m.add_argument("model", help="the .npz file")
    for q in (t, m):
        q.add_argument("--vocab", required=True, help=VOCAB_HELP)
        q.add_argument("--out", required=True, help="the run folder to create (must not exist)")
        q.set_defaults(func=main)


def parse_map(specs: list[str]) -> dict[str, str]:
    names = {}
    for spec in specs:
        role, sep, name = spec.partition("=")
        if not sep or not role or not name:
            raise CLIError(f"--map {spec!r} is not ROLE=NAME, e.g. head.weight=decoder.weight")
        names[role.strip()] = name.strip()
    return names


def main(args) -> int:
    if args.source == "torch":
        out = import_torch(args.model, args.vocab, args.out, parse_map(args.map))
    else:
        out = import_min_char_rnn(args.model, args.vocab, args.out)
    print(f"imported {args.model} as run {out}: charnn record {out} TEXT to record it")
    return 0
