"""The trainer: truncated BPTT over contiguous streams, AdamW, warmup + cosine decay, clipping.

    charnn train austen --out runs/austen --layers 2 --hidden 256 --max-minutes 5
    charnn train austen --out runs/austen --resume          # after Ctrl-C or a kill

A resumed run keeps every setting it was started with but its budget and device (a different
split would move validation into text the model trained on). The hidden state is carried across
batches and reset when the streams wrap. Validation bits per
character every `eval_every` steps; the best weights go to `model.safetensors`, the last state to
`checkpoint.pt` (so a kill loses at most the steps since the last evaluation). Ctrl-C or SIGTERM
stops at the end of the current step and saves a checkpoint first.
"""

from __future__ import annotations

import csv
import hashlib
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import run as runio
from .batches import StreamBatches
from .corpus import load_corpus
from .model import CharRNN, ModelConfig, detach_state

LN2 = math.log(2)
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
    extra: dict = field(default_factory=dict)

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


def corpus_fingerprint(corpus) -> str:
    digest = hashlib.sha256()
    for doc in corpus.documents:
        digest.update(doc.name.encode() + b"\0" + doc.text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def lr_at(cfg: TrainConfig, step: int, seconds: float) -> float:
    """Linear warmup, then cosine decay driven by steps or by time, whichever is further along."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    if cfg.max_minutes:
        progress = max(progress, seconds / (cfg.max_minutes * 60))
    progress = min(progress, 1.0)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate_bpc(model: CharRNN, ids, batch: int = 64, seq_len: int = 256, device="cpu") -> float:
    """Bits per character of `ids` read as `batch` streams with the state carried."""
    was_training = model.training
    model.eval()
    batches = StreamBatches(ids, min(batch, max(1, (len(ids) - 1) // seq_len)), seq_len)
    state, total, count = None, 0.0, 0
    for x, y in batches.windows():
        logits, state = model(x.to(device), state)
        total += F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count / LN2


class Trainer:
    """One training run in one folder; `fit()` trains until the step or time budget is spent."""

    def __init__(self, cfg: TrainConfig, model_cfg: dict | None = None, resume: bool = False):
        """A fresh run in cfg.out with the model settings `model_cfg` (cell, layers, hidden, embed,
        dropout), or with resume=True the run already there, continued from its checkpoint: then
        cfg must agree with the saved settings but for its budget and device (see resumed_config)."""
        self.folder = runio.RunFolder(cfg.out)
        if resume:
            cfg = resumed_config(cfg.out, model_cfg, **{k: v for k, v in asdict(cfg).items() if k != "out"})
        self.cfg, self.out = cfg, Path(cfg.out)
        self.corpus = load_corpus(cfg.corpus, errors=cfg.encoding_errors)
        fingerprint = corpus_fingerprint(self.corpus)
        if resume:
            saved = self.folder.checkpoint()
            config = self.folder.config()
            if config["corpus"]["sha256"] != fingerprint:
                raise ValueError(f"the corpus {cfg.corpus} differs from the one {self.out} was trained on: "
                                 "resume with the same corpus or train a new run")
            self.vocab = self.folder.vocab()
            model_cfg = config["model"]
        else:
            saved = None
            self.vocab = self.corpus.build_vocab(cfg.split)
            model_cfg = {**(model_cfg or {}), "vocab_size": len(self.vocab)}
        torch.manual_seed(cfg.seed)
        self.model = CharRNN(ModelConfig(**model_cfg)).to(cfg.device)
        self.splits = self.corpus.split_ids(self.vocab, cfg.split)
        self.batches = StreamBatches(self.splits["train"], cfg.batch_size, cfg.seq_len)
        if self.batches.stream_len < cfg.seq_len:
            raise ValueError(f"the train split ({len(self.splits['train'])} chars) is too short for "
                             f"{cfg.batch_size} streams of {cfg.seq_len}: lower --batch-size or --seq-len")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.99),
                                           weight_decay=cfg.weight_decay)
        self.step, self.seconds, self.pos, self.state = 0, 0.0, 0, None
        self.best_val = float("inf")
        self.stop_requested = False
        self.on_eval = []  # callbacks (trainer, step) after each evaluation
        if saved is None:
            self.folder.start(self.model.config, self.vocab, train=asdict(self.cfg), corpus={
                "source": str(self.cfg.corpus), "sha256": fingerprint, "documents": len(self.corpus.documents),
                "n_chars": self.corpus.n_positions, "splits": self.corpus.split_bounds(self.cfg.split)})
        else:
            self._restore(saved)

    @classmethod
    def resume(cls, out: str | Path, corpus: str | None = None, model_changes: dict | None = None,
               **changes) -> "Trainer":
        """Continue the run in `out` with its saved settings; `changes` may set its budget
        (max_steps, max_minutes, eval_every) and device, anything else must equal the run's."""
        cfg = resumed_config(out, model_changes, **changes, **({"corpus": corpus} if corpus else {}))
        return cls(cfg, resume=True)

    def _restore(self, saved: dict) -> None:
        try:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.step, self.seconds, self.pos = saved["step"], saved["seconds"], saved["pos"]
            self.best_val = saved["best_val"]
            self.state = tuple(s.to(self.cfg.device) for s in saved["state"]) if saved["state"] else None
            torch.set_rng_state(saved["rng"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise runio.RunError(f"{self.folder.file(runio.CHECKPOINT)} does not match this run ({err}): the best "
                                 f"weights in {self.folder.file(runio.WEIGHTS)} still load; to train on, start a new run") from None
        if self.state is not None and self.model.config.cell != "lstm":
            self.state = self.state[0]
        self.folder.truncate_metrics(self.step)

    def checkpoint(self) -> None:
        state = self.state if isinstance(self.state, tuple) else ((self.state,) if self.state is not None else ())
        self.folder.save_checkpoint({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "step": self.step, "seconds": self.seconds, "pos": self.pos, "best_val": self.best_val,
            "state": list(state), "rng": torch.get_rng_state(),
        })

    def train_step(self, lr: float) -> float:
        """One truncated-BPTT step; returns the training loss in bits per character."""
        x, y = self.batches.window(self.pos)
        x, y = x.to(self.cfg.device), y.to(self.cfg.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(self.cfg.device, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            logits, state = self.model(x, self.state)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip, foreach=True)
        self.optimizer.step()
        self.pos, wrapped = self.batches.next_pos(self.pos)
        self.state = None if wrapped else detach_state(state)
        return loss.item() / LN2

    def evaluate(self) -> float:
        val = self.splits["val"][: self.cfg.eval_chars]
        val_bpc = evaluate_bpc(self.model, val, device=self.cfg.device)
        if val_bpc < self.best_val:
            self.best_val = val_bpc
            self.folder.save_weights(self.model)
        self.checkpoint()
        for callback in self.on_eval:
            callback(self, self.step)
        return val_bpc

    def record_probe(self) -> Path:
        """Record the probe text with the current weights into recordings/step-XXXXXXX/."""
        from .recording import record  # recording imports the trainer's modules; import late
        model = CharRNN(self.model.config)
        model.load_state_dict(self.model.state_dict())
        run = runio.Run(self.out, self.folder.config(), self.vocab, model.eval())
        return record(run, self.cfg.probe_text, name=runio.probe_name(self.step), progress=False)

    def _budget_left(self) -> bool:
        if self.step >= self.cfg.max_steps:
            return False
        return not (self.cfg.max_minutes and self.seconds >= self.cfg.max_minutes * 60)

    def _handle_signals(self):
        def request_stop(signum, frame):
            if self.stop_requested:  # a second Ctrl-C stops at once
                raise KeyboardInterrupt
            self.stop_requested = True
        return {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def fit(self, progress: bool = True) -> dict:
        """Train until the budget is spent or a stop is requested; returns the summary.
        progress=False hides the progress bar."""
        previous = self._handle_signals()
        chars_per_step = self.cfg.batch_size * self.cfg.seq_len
        bar, counts_seconds = self._progress_bar(disable=not progress)
        metrics = open(self.folder.file(runio.METRICS), "a", newline="")
        writer = csv.writer(metrics)
        val_bpc = None
        try:
            self.model.train()
            while self._budget_left() and not self.stop_requested:
                t0 = time.perf_counter()
                lr = lr_at(self.cfg, self.step, self.seconds)
                train_bpc = self.train_step(lr)
                dt = time.perf_counter() - t0
                self.seconds += dt
                self.step += 1
                val_bpc = self.evaluate() if self.step % self.cfg.eval_every == 0 else None
                if self.cfg.record_every and self.step % self.cfg.record_every == 0:
                    self.record_probe()
                writer.writerow([self.step, f"{self.seconds:.3f}", f"{lr:.3e}", f"{train_bpc:.4f}",
                                 f"{chars_per_step / dt:.0f}", "" if val_bpc is None else f"{val_bpc:.4f}"])
                bar.update(min(dt, bar.total - bar.n) if counts_seconds else 1)
                bar.set_postfix(step=self.step, bpc=f"{train_bpc:.3f}", val=f"{self.best_val:.3f}",
                                cps=f"{chars_per_step / dt / 1000:.1f}k", refresh=False)
            if val_bpc is None:  # the last step was not an evaluation step
                val_bpc = self.evaluate()
        finally:
            metrics.close()
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.finish()

    def _progress_bar(self, disable: bool = False) -> tuple[tqdm, bool]:
        """(bar, counts_seconds): counts steps, or seconds when the time budget will end training first."""
        steps_left = self.cfg.max_steps - self.step
        if self.cfg.max_minutes and steps_left > 0:
            seconds_left = self.cfg.max_minutes * 60 - self.seconds
            rate = self.step / self.seconds if self.seconds else 0.0
            if not rate or steps_left / rate > seconds_left:
                return tqdm(total=round(self.cfg.max_minutes * 60), initial=round(self.seconds), desc="train",
                            unit="s", dynamic_ncols=True, disable=disable,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"), True
        return tqdm(total=self.cfg.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                    disable=disable), False

    def finish(self) -> dict:
        """Test bpc of the best weights; writes summary.json."""
        best = runio.load_run(self.out).model.to(self.cfg.device)
        summary = {
            "steps": self.step, "seconds": round(self.seconds, 1), "interrupted": self.stop_requested,
            "best_val_bpc": round(self.best_val, 4),
            "test_bpc": None if self.stop_requested else round(evaluate_bpc(best, self.splits["test"], device=self.cfg.device), 4),
            "train_chars_seen": self.step * self.cfg.batch_size * self.cfg.seq_len,
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }
        self.folder.save_summary(summary)
        return summary
