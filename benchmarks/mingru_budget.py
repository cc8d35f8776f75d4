"""minGRU and minLSTM against the LSTM at an equal training time on the bundled Austen corpus: bits
per character, training characters per second, and how well the best unit tracks dialogue (the
quote unit's AUROC, charnn's search for the built-in concept inside_quotes on a recording of the
validation split).

    .venv/bin/python benchmarks/mingru_budget.py                          # 1x128, 2 minutes a model
    .venv/bin/python benchmarks/mingru_budget.py --minutes 0.5 --cells lstm,mingru   # a quick look

Each model trains with charnn's own trainer (`charnn train --cell ...` with --max-minutes: the
budget counts the seconds spent in training steps), the same layers, units, batch and seed. The
machine is shared, so the models take turns in slices of --slice seconds (each stopped and resumed
from its checkpoint, as Ctrl-C and --resume do) until each has spent its budget: a change in the
machine's load falls on all of them alike. The first cell is the baseline of the speed ratio. The
AUROC is max(AUROC, 1 - AUROC) of the best unit of any kind (stored or derived).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
from pathlib import Path

import torch

from charnn.recording import open_recording, record
from charnn.run import RunFolder, load_run
from charnn.scan import separation
from charnn.search import search
from charnn.train import TrainConfig, Trainer


def train_in_turns(cells: list[str], args, work: Path) -> dict[str, dict]:
    """Each cell's training summary, the cells trained in turns of args.slice seconds."""
    summaries: dict[str, dict] = {}
    started: set[str] = set()
    while len(summaries) < len(cells):
        for cell in cells:
            if cell in summaries:
                continue
            cfg = TrainConfig(corpus="austen", out=str(work / cell), max_minutes=args.minutes, eval_every=args.eval_every,
                              eval_chars=args.eval_chars, batch_size=args.batch, seed=0)
            model = dict(cell=cell, layers=args.layers, hidden=args.hidden, embed=args.embed)
            trainer = Trainer(cfg, None if cell in started else model, resume=cell in started)
            started.add(cell)
            if trainer.seconds >= args.minutes * 60:  # budget spent: the final evaluations, uninterrupted
                summaries[cell] = trainer.fit(progress=False)
                continue
            turn = threading.Timer(args.slice, lambda t=trainer: setattr(t, "stop_requested", True))
            turn.start()
            trainer.fit(progress=False)
            turn.cancel()
    return summaries


def measure(cell: str, summary: dict, args, work: Path) -> dict:
    out = work / cell
    metrics = RunFolder(out).metrics()
    run = load_run(out)
    rec = open_recording(record(run, "val", max_chars=args.record_chars, progress=False))
    found = search(rec, concept="inside_quotes", kinds=rec.kinds, progress=False)
    best = found.iloc[0]
    return {"cell": cell, "steps": summary["steps"], "val_bpc": summary["best_val_bpc"], "test_bpc": summary["test_bpc"],
            "chars_per_s": float(metrics["chars_per_s"].median()), "parameters": summary["parameters"],
            "quote_auroc": float(separation(best["auroc"])), "quote_unit": f"{best['layer']}:{best['kind']}:{best['unit']}"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="lstm,mingru,minlstm", help="comma-separated; the first is the baseline")
    p.add_argument("--minutes", type=float, default=2.0, help="training time per model")
    p.add_argument("--slice", type=float, default=20.0, help="seconds of a turn (see the module docstring)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-chars", type=int, default=50_000)
    p.add_argument("--record-chars", type=int, default=100_000, help="validation characters recorded and searched")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default torch's own; 1 keeps a loaded machine from collapsing two-thread ops)")
    p.add_argument("--work", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mingru-budget-"))
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = args.cells.split(",")
    summaries = train_in_turns(cells, args, work)
    rows = [measure(cell, summaries[cell], args, work) for cell in cells]
    base = rows[0]
    print(f"{args.layers}x{args.hidden}, {args.minutes:g} min each, batch {args.batch}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.1f}, runs in {work}")
    print(f"{'cell':8} {'steps':>6} {'val bpc':>8} {'test bpc':>8} {'chars/s':>9} {'x base':>7} {'params':>8} "
          f"{'quote AUROC':>11}  unit")
    for r in rows:
        speed = r["chars_per_s"] / base["chars_per_s"]
        print(f"{r['cell']:8} {r['steps']:>6} {r['val_bpc']:>8.3f} {r['test_bpc']:>8.3f} {r['chars_per_s']:>9,.0f} "
              f"{speed:>7.2f} {r['parameters']:>8,} {r['quote_auroc']:>11.3f}  {r['quote_unit']}")


if __name__ == "__main__":
    main()
