"""The trainer: truncated BPTT over contiguous streams, AdamW, warmup + cosine decay, clipping.

    charnn train austen --out runs/austen --layers 2 --hidden 256 --max-minutes 5
    charnn train austen --out runs/austen --resume          # after Ctrl-C or a kill

The hidden state is carried across batches and reset when the streams wrap. Validation bits per
character every `eval_every` steps; the best weights go to `model.safetensors`, the last state to
`checkpoint.pt` (so a kill loses at most the steps since the last evaluation). Ctrl-C or SIGTERM
stops at the end of the current step and saves a checkpoint first.
"""

from __future__ import annotations

import csv
import hashlib
import json
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
from .fsio import write_json
from .model import CharRNN, ModelConfig, detach_state
from .vocab import Vocab

LN2 = math.log(2)
METRIC_FIELDS = ["step", "seconds", "lr", "train_bpc", "chars_per_s", "val_bpc"]


@dataclass
class TrainConfig:
    corpus: str
    out: str
    seq_len: int = 128  # truncated-BPTT window, characters
    batch_size: int = 64  # parallel streams
    lr: float = 3e-3  # peak learning rate
    min_lr_ratio: float = 0.05  # final lr as a fraction of the peak
    warmup_steps: int = 100
    weight_decay: float = 0.01
    clip: float = 1.0  # max global gradient norm
    max_steps: int = 3000
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
        self.cfg, self.out = cfg, Path(cfg.out)
        self.corpus = load_corpus(cfg.corpus, errors=cfg.encoding_errors)
        fingerprint = corpus_fingerprint(self.corpus)
        if resume:
            saved = runio.load_checkpoint(self.out / runio.CHECKPOINT) if (self.out / runio.CHECKPOINT).exists() else None
            if saved is None:
                raise runio.RunError(f"{self.out} has no {runio.CHECKPOINT} to resume from")
            config = json.loads((self.out / "config.json").read_text())
            if config["corpus"]["sha256"] != fingerprint:
                raise ValueError(f"the corpus {cfg.corpus} differs from the one {self.out} was trained on: "
                                 "resume with the same corpus or train a new run")
            self.vocab = Vocab.load(self.out / "vocab.json")
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
        if cfg.record_every and not cfg.probe_text:
            raise ValueError("--record-every needs --probe-text FILE (or val) to record")
        if saved is None:
            self._start_run_folder(fingerprint)
        else:
            self._restore(saved)

    def _start_run_folder(self, fingerprint: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in (runio.CHECKPOINT, runio.WEIGHTS, "metrics.csv", "summary.json"):
            (self.out / stale).unlink(missing_ok=True)
        self.vocab.save(self.out / "vocab.json")
        bounds = self.corpus.split_bounds(self.cfg.split)
        write_json(self.out / "config.json", {
            "model": asdict(self.model.config),
            "train": asdict(self.cfg),
            "corpus": {"source": str(self.cfg.corpus), "sha256": fingerprint,
                       "documents": len(self.corpus.documents), "n_chars": self.corpus.n_positions,
                       "splits": bounds},
        })
        with open(self.out / "metrics.csv", "w", newline="") as f:
            csv.writer(f).writerow(METRIC_FIELDS)

    def _restore(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.step, self.seconds, self.pos = saved["step"], saved["seconds"], saved["pos"]
        self.best_val = saved["best_val"]
        self.state = tuple(saved["state"]) if saved["state"] else None
        if self.state is not None and self.model.config.cell != "lstm":
            self.state = self.state[0]
        torch.set_rng_state(saved["rng"])
        self._truncate_metrics(self.step)

    def _truncate_metrics(self, step: int) -> None:
        """Drop metric rows written after the checkpoint we resume from."""
        path = self.out / "metrics.csv"
        rows = list(csv.reader(open(path))) if path.exists() else [METRIC_FIELDS]
        keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    def checkpoint(self) -> None:
        state = self.state if isinstance(self.state, tuple) else ((self.state,) if self.state is not None else ())
        runio.save_checkpoint({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "step": self.step, "seconds": self.seconds, "pos": self.pos, "best_val": self.best_val,
            "state": list(state), "rng": torch.get_rng_state(),
        }, self.out / runio.CHECKPOINT)

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
            runio.save_weights(self.model, self.out / runio.WEIGHTS)
        self.checkpoint()
        for callback in self.on_eval:
            callback(self, self.step)
        return val_bpc

    def record_probe(self) -> Path:
        """Record the probe text with the current weights into recordings/step-XXXXXXX/."""
        from .recording import record  # recording imports the trainer's modules; import late
        model = CharRNN(self.model.config)
        model.load_state_dict(self.model.state_dict())
        config = json.loads((self.out / "config.json").read_text())
        run = runio.Run(self.out, config, self.vocab, model.eval())
        return record(run, self.cfg.probe_text, name=f"step-{self.step:07d}", progress=False)

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
        metrics = open(self.out / "metrics.csv", "a", newline="")
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
        write_json(self.out / "summary.json", summary)
        return summary
