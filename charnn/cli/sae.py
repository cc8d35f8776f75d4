"""`charnn sae train REC`, `charnn sae add REC NAME` and `charnn sae ablate REC NAME --latent J`:
sparse autoencoders over a layer's c or h states (see charnn.sae).

    charnn sae train runs/austen/recordings/val --kind c --k 32 --minutes 10   # then adds kind sae-c0-2048-k32
    charnn sae add runs/austen/recordings/val c0-2048-k32                      # that step alone (after --no-add)
    charnn sae ablate runs/austen/recordings/val c0-2048-k32 --latent 17 --where '"' --random 20

`charnn sae ablate REC NAME --latent 3,40` is `charnn ablate` (charnn.causal.ablate) with mode
remove on the recording's own text and model: `charnn ablate RUN TEXT --unit 0:sae-NAME:3,0:sae-NAME:40`
does the same on any text, and also holds latents at their mean or a value.
"""

from __future__ import annotations

import argparse
import json

import torch

from ..causal import ablate
from ..recording import open_recording
from ..recording.replay import recording_run
from ..sae.kind import add_latents, latent_kind, latent_units
from ..sae.training import TrainOptions, train
from .ablate import show
from .args import at_least, device, finite


def latent_list(text: str) -> list[int]:
    """'17' or '3,40' -> [17] or [3, 40]."""
    try:
        latents = [int(j) for j in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a latent index or several separated by commas, not {text!r}") from None
    if min(latents) < 0:
        raise argparse.ArgumentTypeError(f"latent indices are >= 0, not {text!r}")
    return latents


def add_parser(sub) -> None:
    p = sub.add_parser("sae", help="train sparse autoencoders over a layer's states; ablate their latents")
    commands = p.add_subparsers(dest="sae_command", required=True)
    t = commands.add_parser("train", help="train on the first part of a recording, report metrics on the rest")
    t.add_argument("rec", help="recording folder (RUN/recordings/NAME)")
    t.add_argument("--layer", type=at_least(0), default=0)
    t.add_argument("--kind", default="c", choices=["c", "h"])
    t.add_argument("--latents", type=at_least(1), default=None, help="dictionary size (default 8 x the layer's units)")
    t.add_argument("--k", type=at_least(1), default=32, help="active latents per character (default 32)")
    t.add_argument("--l1", type=finite(0), default=None, help="train a ReLU autoencoder with this L1 penalty instead of TopK")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=at_least(1), default=None, help="training steps (default 5000)")
    budget.add_argument("--minutes", type=finite(0, low_open=True), default=None, help="train for this many minutes instead")
    t.add_argument("--batch", type=at_least(1), default=4096, help="characters per step")
    t.add_argument("--lr", type=finite(0, low_open=True), default=1e-3)
    t.add_argument("--normalize", default="unit", choices=["unit", "global"],
                   help="scale each unit by its std (default) or all units by one number")
    t.add_argument("--eval-fraction", type=finite(0, low_open=True), default=0.2,
                   help="last part of the recording held out for the metrics")
    t.add_argument("--seed", type=at_least(0), default=0)
    t.add_argument("--name", default=None, help="folder under REC/sae/ (default e.g. c0-2048-k32)")
    t.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu")
    t.add_argument("--no-add", action="store_true", help="do not store the latents as kind sae-NAME of the recording")
    t.add_argument("--format", choices=["table", "json"], default="table")
    t.set_defaults(func=train_main)

    d = commands.add_parser("add", help="store an autoencoder's latents as kind sae-NAME of its recording")
    d.add_argument("rec", help="recording folder the autoencoder was trained on")
    d.add_argument("name", help="autoencoder name (a folder under REC/sae/)")
    d.set_defaults(func=add_main)

    a = commands.add_parser("ablate", help="remove latents from the state at every step; loss change vs random latents")
    a.add_argument("rec", help="recording folder the autoencoder was trained on")
    a.add_argument("name", help="autoencoder name (a folder under REC/sae/)")
    a.add_argument("--latent", required=True, type=latent_list,
                   help="latent index, or several separated by commas (removed together)")
    a.add_argument("--where", default=None, help="regex: report the loss change on its matches vs all other characters")
    a.add_argument("--apply-inside", default=None, help="regex: ablate only on the characters of its matches")
    a.add_argument("--random", type=at_least(0), default=20, help="random sets of active latents as a baseline")
    a.add_argument("--seed", type=at_least(0), default=0)
    a.add_argument("--max-chars", type=at_least(1), default=None)
    a.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu")
    a.add_argument("--format", choices=["table", "json"], default="table")
    a.set_defaults(func=ablate_main)


def train_main(args) -> int:
    steps = None if args.minutes else (args.steps or 5000)
    relu = args.l1 is not None
    opts = TrainOptions(layer=args.layer, kind=args.kind, latents=args.latents, k=args.k,
                        activation="relu" if relu else "topk", l1=args.l1 or 0.0, steps=steps, minutes=args.minutes,
                        batch=args.batch, lr=args.lr, normalize=args.normalize,
                        eval_fraction=args.eval_fraction, seed=args.seed, device=args.device)
    folder, metrics = train(args.rec, opts, name=args.name, progress=args.format == "table", add=not args.no_add)
    if args.format == "json":
        print(json.dumps({"folder": str(folder), **metrics}))
        return 0
    start, stop = metrics["eval_chars"]
    print(f"saved {folder}" + ("" if args.no_add else f"; its latents are kind {latent_kind(folder.name)} of the recording"))
    print(f"held-out characters {start:,}..{stop:,} ({stop - start:,}):")
    print(f"  explained_variance       {metrics['explained_variance']:.4f}   "
          f"(scaled units: {metrics['explained_variance_scaled']:.4f})")
    print(f"  l0                       {metrics['l0']:.1f}")
    print(f"  dead_features            {metrics['dead_features']:.4f}")
    print(f"  ce_loss_score_readout    {metrics['ce_loss_score_readout']:.4f}")
    print(f"  ce_loss_score_recurrent  {metrics['ce_loss_score_recurrent']:.4f}")
    print(f"  loss in bits: clean {metrics['ce_clean_bits']:.4f}, readout splice {metrics['ce_readout_bits']:.4f}, "
          f"recurrent splice {metrics['ce_recurrent_bits']:.4f}, zero-ablated {metrics['ce_zero_ablated_bits']:.4f}")
    return 0


def add_main(args) -> int:
    rec = open_recording(args.rec)
    kind = add_latents(rec, args.name)
    layer = next(layer for layer in range(rec.layers) if rec.stored(layer, kind))
    print(f"added kind {kind} to layer {layer} of {rec.path}: {rec.width(layer, kind):,} latents as units "
          f"{layer}:{kind}:0 .. {layer}:{kind}:{rec.width(layer, kind) - 1}")
    return 0


def ablate_main(args) -> int:
    rec = open_recording(args.rec)
    sae, units = latent_units(rec, args.name, args.latent)
    result = ablate(recording_run(rec), rec, units, "remove", args.where, args.apply_inside, args.random, args.seed,
                    args.max_chars, progress=args.format == "table", device=args.device, sae=sae)
    return show(result, units, args.where, args.format)
