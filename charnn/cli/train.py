"""`charnn train CORPUS`: train a character-level LSTM, GRU, RNN, minGRU or minLSTM (see charnn.train).

Flags left out take their defaults from charnn.train.TrainConfig and charnn.model.ModelConfig;
with --resume they come from the run, and a flag that would change its data, model or optimiser
is refused (only the budget and the device may change).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from ..cells import BUILT_IN
from ..names import BadName, check_name
from ..train import TrainConfig, Trainer
from .args import at_least, device, finite

MODEL_FLAGS = ("cell", "layers", "hidden", "embed", "dropout")
GIVEN = argparse.SUPPRESS  # a flag not given leaves no attribute: the run or the config decides


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model on a corpus (file, folder or bundled name)")
    p.add_argument("corpus",
                   help="a UTF-8 text file, a folder of them (one document each), or a bundled corpus name such as austen")
    p.add_argument("--out", default=None, help="run folder (default: runs/<corpus name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint, with its own settings (only --max-steps, "
                        "--max-minutes, --eval-every and --device may change)")
    # model
    p.add_argument("--cell", choices=list(BUILT_IN), default=GIVEN,
                   help="default lstm; mingru and minlstm (Feng et al. 2024) train with a parallel scan")
    p.add_argument("--layers", type=at_least(1), default=GIVEN, help="default 2")
    p.add_argument("--hidden", type=at_least(1), default=GIVEN, help="units per layer (default 256)")
    p.add_argument("--embed", type=at_least(1), default=GIVEN, help="character embedding width (default 64)")
    p.add_argument("--dropout", type=finite(0), default=GIVEN,
                   help="dropout between layers and before the output, 0 to <1 (default 0)")
    # optimisation
    p.add_argument("--seq-len", type=at_least(1), default=GIVEN, help="truncated-BPTT window in characters (default 128)")
    p.add_argument("--batch-size", type=at_least(1), default=GIVEN,
                   help="parallel streams per step (default 32 on a CPU, 64 on a GPU)")
    p.add_argument("--lr", type=finite(0, low_open=True), default=GIVEN,
                   help="peak learning rate, AdamW (default 6e-3 at batch 32, 3e-3 above)")
    p.add_argument("--warmup-steps", type=at_least(0), default=GIVEN, help="default 100")
    p.add_argument("--clip", type=finite(0, low_open=True), default=GIVEN, help="max gradient norm (default 1)")
    p.add_argument("--max-steps", type=at_least(1), default=GIVEN,
                   help="step budget (default 3000, or no step limit with --max-minutes)")
    p.add_argument("--max-minutes", type=finite(0, low_open=True), default=GIVEN,
                   help="wall-clock budget in minutes; the lr decays over it")
    p.add_argument("--eval-every", type=at_least(1), default=GIVEN,
                   help="steps between validation, checkpoint and best-model save (default 250)")
    p.add_argument("--seed", type=at_least(0), default=GIVEN, help="default 1337")
    p.add_argument("--split", default=GIVEN, help="train,val,test fractions of the corpus, contiguous (default 0.9,0.05,0.05)")
    p.add_argument("--bf16", action="store_true", default=GIVEN, help="bfloat16 autocast (faster on recent CPUs)")
    p.add_argument("--encoding-errors", choices=["strict", "replace"], default=GIVEN,
                   help="what to do with bytes that are not UTF-8 (default strict: an error naming the file)")
    p.add_argument("--record-every", type=at_least(0), default=GIVEN,
                   help="record --probe-text every N steps into OUT/recordings/step-XXXXXXX (default 0: never)")
    p.add_argument("--probe-text", default=GIVEN, help="text to record during training: a file, folder, bundled name or val")
    p.add_argument("--device", type=device, default=GIVEN, help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--threads", type=at_least(1), default=None,
                   help="torch threads (default: the cores this process may use, or CHARNN_THREADS)")
    p.set_defaults(func=main)


def parse_split(text: str) -> tuple[float, ...]:
    try:
        split = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--split {text!r} must be three fractions such as 0.9,0.05,0.05") from None
    if len(split) != 3 or not all(math.isfinite(x) and x > 0 for x in split) or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f"--split {text} must be three positive fractions summing to 1")
    return split


def main(args) -> int:
    given = {k: v for k, v in vars(args).items() if k not in ("corpus", "out", "resume", "threads", "func", "command")}
    if "split" in given:
        given["split"] = parse_split(given["split"])
    model_flags = {k: given.pop(k) for k in MODEL_FLAGS if k in given}
    out = args.out or default_out(args.corpus)
    if args.resume:
        trainer = Trainer.resume(out, corpus=args.corpus, model_changes=model_flags, **given)
    else:
        given.setdefault("device", "cuda" if torch.cuda.is_available() else "cpu")
        trainer = Trainer(TrainConfig(corpus=args.corpus, out=out, **given), model_flags)
    try:
        return report(args, out, trainer)
    finally:
        trainer.close()


def default_out(corpus: str) -> str:
    """runs/<corpus name>, when the corpus's name is a plain name (charnn.names); else --out is needed."""
    name = str(corpus).rstrip("/").split("/")[-1].split(".")[0]
    try:
        return f"runs/{check_name(name, 'run name')}"
    except BadName as err:
        raise ValueError(f"cannot name the run after the corpus {corpus!r} ({err}): give --out") from None


def report(args, out: str, trainer: Trainer) -> int:
    """Train, printing what is trained and how it went (rank 0 prints, under torchrun)."""
    say = print if trainer.dist.main else (lambda *a, **k: None)
    n = {k: len(v) for k, v in trainer.splits.items()}
    cfg, model = trainer.cfg, trainer.model.config
    params = sum(p.numel() for p in trainer.model.parameters())
    processes = f", {trainer.dist.world} processes" if trainer.dist.world > 1 else ""
    say(f"corpus {args.corpus}: {len(trainer.corpus.documents)} documents, {trainer.corpus.n_positions:,} chars "
        f"(train {n['train']:,} / val {n['val']:,} / test {n['test']:,}), vocabulary {len(trainer.vocab)}")
    say(f"model {model.cell} {model.layers}x{model.hidden}, {params:,} parameters, batch {cfg.batch_size} x "
        f"{cfg.seq_len} chars, lr {cfg.lr:g}{processes} -> {out}"
        + (f" (resuming at step {trainer.step})" if args.resume else ""))
    summary = trainer.fit()
    if summary["interrupted"]:
        say(f"stopped at step {summary['steps']}; checkpoint saved. "
            f"Continue with: charnn train {args.corpus} --out {out} --resume")
        return 130
    say(json.dumps(summary))
    say(f"best validation {summary['best_val_bpc']:.3f} bits/char, test {summary['test_bpc']:.3f} bits/char "
        f"after {summary['steps']} steps in {summary['seconds'] / 60:.1f} min")
    return 0
