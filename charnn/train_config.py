"""Training settings: the TrainConfig dataclass saved in every run's config.json, the checks that
refuse settings no run can use, and what a resumed run may change.

    cfg = TrainConfig(corpus="austen", out="runs/austen", max_minutes=6)   # CPU defaults: batch 32, lr 6e-3
    cfg = resumed_config("runs/austen", max_minutes=12)                     # the run's own settings, a new budget
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import run as runio

BUDGET_FIELDS = ("max_steps", "max_minutes", "eval_every")  # a resumed run may change how long it trains
PLACE_FIELDS = ("device",)  # ... and where it runs; every other setting is the run's own


@dataclass
class TrainConfig:
    corpus: str
    out: str
    seq_len: int = 128  # truncated-BPTT window, characters
    batch_size: int | None = None  # parallel streams; None: 32 on a CPU (more steps per minute), 64 on a GPU
    lr: float | None = None  # peak learning rate; None: 6e-3 at batch 32, 3e-3 above
    min_lr_ratio: float = 0.05  # final lr as a fraction of the peak
    warmup_steps: int = 100
    weight_decay: float = 0.01
    clip: float = 1.0  # max global gradient norm
    max_steps: int | None = None  # None: 3000, or no step limit when max_minutes is set
    max_minutes: float | None = None  # wall-clock budget; the lr schedule follows it too
    eval_every: int = 250
    eval_chars: int = 200_000  # validation characters per evaluation (the test split is read whole)
    seed: int = 1337
    split: tuple = (0.9, 0.05, 0.05)
    bf16: bool = False  # bfloat16 autocast for the forward pass (CPU and GPU)
    encoding_errors: str = "strict"  # strict | replace, for bad UTF-8 in the corpus
    record_every: int = 0  # record the probe text every N steps (0: never)
    probe_text: str | None = None
    device: str = "cpu"

    def __post_init__(self):
        self.split = tuple(float(x) for x in self.split)
        if self.batch_size is None:
            self.batch_size = 32 if str(self.device).startswith("cpu") else 64
        if self.lr is None:
            self.lr = 6e-3 if self.batch_size <= 32 else 3e-3
        if self.max_steps is None:
            self.max_steps = 10**12 if self.max_minutes else 3000
        check_config(self)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings no run can use, before anything is written (ValueError naming the flag)."""
    def whole(name, low):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{_flag(name)} must be an integer >= {low}, not {value!r}")

    def number(name, low, high=math.inf, low_open=False):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < low or (low_open and value == low) or value > high:
            bound = f"> {low}" if low_open else f">= {low}"
            raise ValueError(f"{_flag(name)} must be a finite number {bound}" + (f" and <= {high}" if high < math.inf else "")
                             + f", not {value!r}")

    for name in ("seq_len", "batch_size", "max_steps", "eval_every", "eval_chars"):
        whole(name, 1)
    for name in ("warmup_steps", "record_every", "seed"):
        whole(name, 0)
    number("lr", 0, low_open=True)
    number("clip", 0, low_open=True)
    number("weight_decay", 0)
    number("min_lr_ratio", 0, 1)
    if cfg.max_minutes is not None:
        number("max_minutes", 0, low_open=True)
    if len(cfg.split) != 3 or not all(math.isfinite(x) and x > 0 for x in cfg.split) or abs(sum(cfg.split) - 1) > 1e-6:
        raise ValueError(f"--split {','.join(map(str, cfg.split))} must be three positive fractions summing to 1")
    if cfg.encoding_errors not in ("strict", "replace"):
        raise ValueError(f"--encoding-errors must be strict or replace, not {cfg.encoding_errors!r}")
    if cfg.record_every and not cfg.probe_text:
        raise ValueError("--record-every needs --probe-text FILE (or val) to record")


def resumed_config(out: str | Path, model_changes: dict | None = None, **changes) -> TrainConfig:
    """The saved TrainConfig of the run in `out`, with `changes` applied where a resumed run may
    change them (BUDGET_FIELDS, PLACE_FIELDS). Any other change, and any change to the model
    (`model_changes`: cell, layers, hidden, ...), is refused with a ValueError naming the flag
    and the run's value: a different split would move validation into trained text, a different
    window or batch would not continue the same streams."""
    folder = runio.RunFolder(out)
    config = folder.config()
    saved = {k: v for k, v in config.get("train", {}).items() if k in TrainConfig.__dataclass_fields__}
    saved["split"] = tuple(saved.get("split", (0.9, 0.05, 0.05)))
    fixed = {**{k: (v, saved.get(k)) for k, v in changes.items() if k not in BUDGET_FIELDS + PLACE_FIELDS + ("corpus", "out")},
             **{k: (v, config["model"].get(k)) for k, v in (model_changes or {}).items()}}
    for name, (given, theirs) in fixed.items():
        given = tuple(float(x) for x in given) if name == "split" else given
        if given != theirs:
            shown = ",".join(map(str, theirs)) if isinstance(theirs, (tuple, list)) else theirs
            raise ValueError(f"{_flag(name)} {given if name != 'split' else ','.join(map(str, given))} differs from "
                             f"the run's {shown}: a resumed run keeps its data, model and optimiser settings "
                             f"(drop the flag, or train a new run with another --out)")
    saved.update({k: v for k, v in changes.items() if k in BUDGET_FIELDS + PLACE_FIELDS + ("corpus",)})
    saved["out"] = str(out)
    if "max_minutes" in changes and "max_steps" not in changes:
        saved["max_steps"] = None  # a new time budget: the step limit follows it (see TrainConfig)
    return TrainConfig(**saved)
