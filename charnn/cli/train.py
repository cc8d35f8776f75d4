"""`charnn train CORPUS`: train a character-level LSTM, GRU or RNN (see charnn.train)."""

from __future__ import annotations

import json

import torch

from ..train import Trainer, TrainConfig


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model on a corpus (file, folder or bundled name)")
    p.add_argument("corpus", help="a UTF-8 text file, a folder of them (one document each), or a bundled corpus name such as austen")
    p.add_argument("--out", default=None, help="run folder (default: runs/<corpus name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    # model
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256, help="units per layer")
    p.add_argument("--embed", type=int, default=64, help="character embedding width")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout between layers and before the output (0 to 1)")
    # optimisation
    p.add_argument("--seq-len", type=int, default=128, help="truncated-BPTT window in characters")
    p.add_argument("--batch-size", type=int, default=64, help="parallel streams per step")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW)")
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--clip", type=float, default=1.0, help="max gradient norm")
    p.add_argument("--max-steps", type=int, default=3000)
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget in minutes; the lr decays over it")
    p.add_argument("--eval-every", type=int, default=250, help="steps between validation, checkpoint and best-model save")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--split", default="0.9,0.05,0.05", help="train,val,test fractions of the corpus (contiguous)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on recent CPUs)")
    p.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict",
                   help="what to do with bytes that are not UTF-8")
    p.add_argument("--record-every", type=int, default=0,
                   help="record --probe-text every N steps into OUT/recordings/step-XXXXXXX (0: never)")
    p.add_argument("--probe-text", default=None, help="text to record during training: a file, folder, bundled name or val")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.set_defaults(func=main)


def main(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or f"runs/{str(args.corpus).rstrip('/').split('/')[-1].split('.')[0]}"
    cfg = TrainConfig(
        corpus=args.corpus, out=out, seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr,
        warmup_steps=args.warmup_steps, clip=args.clip, max_steps=args.max_steps,
        max_minutes=args.max_minutes, eval_every=args.eval_every, seed=args.seed,
        split=tuple(float(x) for x in args.split.split(",")), bf16=args.bf16,
        encoding_errors=args.encoding_errors, device=args.device,
        record_every=args.record_every, probe_text=args.probe_text,
    )
    model_cfg = dict(cell=args.cell, layers=args.layers, hidden=args.hidden, embed=args.embed, dropout=args.dropout)
    trainer = Trainer(cfg, model_cfg, resume=args.resume)
    if args.resume:  # budgets may be extended on resume
        trainer.cfg.max_steps, trainer.cfg.max_minutes = args.max_steps, args.max_minutes
    n = {k: len(v) for k, v in trainer.splits.items()}
    params = sum(p.numel() for p in trainer.model.parameters())
    print(f"corpus {args.corpus}: {len(trainer.corpus.documents)} documents, {trainer.corpus.n_positions:,} chars "
          f"(train {n['train']:,} / val {n['val']:,} / test {n['test']:,}), vocabulary {len(trainer.vocab)}")
    print(f"model {trainer.model.config.cell} {trainer.model.config.layers}x{trainer.model.config.hidden}, "
          f"{params:,} parameters -> {out}" + (f" (resuming at step {trainer.step})" if args.resume else ""))
    summary = trainer.fit()
    if summary["interrupted"]:
        print(f"stopped at step {summary['steps']}; checkpoint saved. Continue with: charnn train {args.corpus} --out {out} --resume")
        return 130
    print(json.dumps(summary))
    print(f"best validation {summary['best_val_bpc']:.3f} bits/char, test {summary['test_bpc']:.3f} bits/char "
          f"after {summary['steps']} steps in {summary['seconds'] / 60:.1f} min")
    return 0
