"""The trainer: truncated BPTT over contiguous streams, AdamW, warmup + cosine decay, clipping.

    charnn train austen --out runs/austen --layers 2 --hidden 256 --max-minutes 5
    charnn train austen --out runs/austen --resume          # after Ctrl-C or a kill
    torchrun --nproc_per_node 2 -m charnn train austen --out runs/ddp   # DistributedDataParallel

A resumed run keeps every setting it was started with but its budget and device (a different
split would move validation into text the model trained on). The hidden state is carried across
batches and reset when the streams wrap. Validation bits per
character every `eval_every` steps; the best weights go to `model.safetensors`, the last state to
`checkpoint.pt` (so a kill loses at most the steps since the last evaluation). Ctrl-C or SIGTERM
stops at the end of the current step and saves a checkpoint first.

Under torchrun (see charnn.distributed) every process owns a slice of the streams; the processes
agree each step on the loss, the clock and whether to stop, evaluate their share of the validation
streams and sum it, and only rank 0 writes the run folder. The checkpoint holds the hidden state
of every stream, gathered, so it is the same file a single process writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import run as runio
from .batches import StreamBatches
from .corpus import load_corpus
from .distributed import Dist
from .fsio import LockBusy, exclusive_lock
from .model import CharRNN, ModelConfig, detach_state
from .recording import record
from .train_config import TrainConfig, resumed_config

__all__ = ["Trainer", "TrainConfig", "evaluate_bpc", "lr_at", "resumed_config"]

LN2 = math.log(2)


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
def loss_sums(model: CharRNN, ids, batch: int = 64, seq_len: int = 256, device="cpu", dist: Dist = Dist()) -> tuple[float, int]:
    """(nats summed, characters) of `ids` read as `batch` streams with the state carried, over
    this process's share of the streams (a share may be empty when there are more processes)."""
    was_training = model.training
    model.eval()
    streams = min(batch, max(1, (len(ids) - 1) // seq_len))
    share = -(-streams // dist.world)
    rows = slice(min(streams, dist.rank * share), min(streams, (dist.rank + 1) * share))
    state, total, count = None, 0.0, 0
    if rows.stop > rows.start:
        for x, y in StreamBatches(ids, streams, seq_len, rows).windows():
            logits, state = model(x.to(device), state)
            total += F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
            count += y.numel()
    model.train(was_training)
    return total, count


def evaluate_bpc(model: CharRNN, ids, batch: int = 64, seq_len: int = 256, device="cpu", dist: Dist = Dist()) -> float:
    """Bits per character of `ids` read as `batch` streams with the state carried (summed over processes)."""
    total, count = dist.sum(list(loss_sums(model, ids, batch, seq_len, device, dist)))
    return total / count / LN2


class Diverged(ValueError):
    """The training loss stopped being a finite number."""


class RunBusy(OSError):
    """Another trainer holds the run folder."""

    def __str__(self) -> str:
        return self.args[0]


class Trainer:
    """One training run in one folder; `fit()` trains until the step or time budget is spent."""

    def __init__(self, cfg: TrainConfig, model_cfg: dict | None = None, resume: bool = False):
        """A fresh run in cfg.out with the model settings `model_cfg` (cell, layers, hidden, embed,
        dropout), or with resume=True the run already there, continued from its checkpoint: then
        cfg must agree with the saved settings but for its budget and device (see resumed_config)."""
        self.folder = runio.RunFolder(cfg.out)
        if resume:
            cfg = resumed_config(cfg.out, model_cfg, **{k: v for k, v in asdict(cfg).items() if k != "out"})
        self.dist = Dist.from_env(runio.check_device(cfg.device))
        cfg.device = self.dist.device
        self.cfg, self.out = cfg, Path(cfg.out)
        self._lock = contextlib.ExitStack()
        try:
            self._claim_folder(resume)
            self._setup(cfg, model_cfg, resume)
        except BaseException:
            self.close()
            raise

    def _claim_folder(self, resume: bool) -> None:
        """Hold the run folder's lock (rank 0) and refuse to start a fresh run over one that has
        trained: a second trainer of the same --out, or a forgotten --resume, loses nothing."""
        if self.dist.main:
            try:
                self._lock.enter_context(exclusive_lock(self.folder.lock_file(), f"another trainer is writing {self.out}"))
            except LockBusy as err:
                raise RunBusy(str(err)) from None
        steps = self.folder.trained_steps()
        if not resume and steps:
            raise ValueError(f"{self.out} already holds a run ({steps} steps trained): continue it with --resume, "
                             "or train into another --out (or delete the folder to start over)")

    def _setup(self, cfg: TrainConfig, model_cfg: dict | None, resume: bool) -> None:
        self.corpus = load_corpus(cfg.corpus, errors=cfg.encoding_errors)
        fingerprint = corpus_fingerprint(self.corpus)
        if resume:
            saved = self.folder.checkpoint()
            done = saved.get("step", 0) if isinstance(saved, dict) else 0
            if isinstance(done, int) and done >= cfg.max_steps and not cfg.max_minutes:
                raise ValueError(f"{self.out} has trained {done} steps already, so --max-steps {cfg.max_steps} "
                                 f"leaves nothing to do: give --max-steps above {done} to train on")
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
        self.net = self.model  # what the training step calls: the model, or its DDP wrapper
        if self.dist.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        self.splits = self.corpus.split_ids(self.vocab, cfg.split)
        self.batches = StreamBatches(self.splits["train"], cfg.batch_size, cfg.seq_len, self.dist.rows(cfg.batch_size))
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
            if self.dist.main:
                self.folder.start(self.model.config, self.vocab, train=asdict(self.cfg), corpus={
                    "source": str(self.cfg.corpus), "sha256": fingerprint, "documents": len(self.corpus.documents),
                    "n_chars": self.corpus.n_positions, "splits": self.corpus.split_bounds(self.cfg.split)})
            self.dist.barrier()
        else:
            self._restore(saved)

    def close(self) -> None:
        """Release the run folder and the process group (fit() releases the folder when it ends)."""
        self._lock.close()
        self.dist.close()

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
            rows = self.dist.rows(self.cfg.batch_size)  # the checkpoint holds every stream's state
            self.state = tuple(s[:, rows].to(self.cfg.device) for s in saved["state"]) if saved["state"] else None
            rngs = saved.get("rng_ranks") or [saved["rng"]]
            if len(rngs) == self.dist.world:
                torch.set_rng_state(rngs[self.dist.rank])
            else:  # another number of processes: dropout draws other numbers from here on
                torch.manual_seed(self.cfg.seed + self.step * self.dist.world + self.dist.rank)
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise runio.RunError(f"{self.folder.file(runio.CHECKPOINT)} does not match this run ({err}): the best "
                                 f"weights in {self.folder.file(runio.WEIGHTS)} still load; "
                                 "to train on, start a new run") from None
        if self.state is not None and len(self.model.cell.carried) == 1:
            self.state = self.state[0]
        if self.dist.main:
            self.folder.truncate_metrics(self.step)

    def checkpoint(self) -> None:
        """Save the training state (rank 0; every process takes part: the states are gathered)."""
        state = self.state if isinstance(self.state, tuple) else ((self.state,) if self.state is not None else ())
        state = [self.dist.gather(s, 1).cpu() for s in state]  # (L, B, H) each: every stream
        rngs = [r.clone() for r in self.dist.gather(torch.get_rng_state()[None], 0)]  # one per process, each its own storage
        if self.dist.main:
            self.folder.save_checkpoint({
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "step": self.step, "seconds": self.seconds, "pos": self.pos, "best_val": self.best_val,
                "state": state, "rng": rngs[0], "rng_ranks": rngs,
            })

    def train_step(self, lr: float) -> float:
        """One truncated-BPTT step; returns the training loss in bits per character."""
        x, y = self.batches.window(self.pos)
        x, y = x.to(self.cfg.device), y.to(self.cfg.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(torch.device(self.cfg.device).type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            logits, state = self.net(x, self.state)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip, foreach=True)
        self.optimizer.step()
        self.pos, wrapped = self.batches.next_pos(self.pos)
        self.state = None if wrapped else detach_state(state)
        return loss.item() / LN2

    def validate(self) -> float:
        """Validation bits per character; the best weights so far are saved."""
        val = self.splits["val"][: self.cfg.eval_chars]
        val_bpc = evaluate_bpc(self.model, val, device=self.cfg.device, dist=self.dist)
        if val_bpc < self.best_val:
            self.best_val = val_bpc
            if self.dist.main:
                self.folder.save_weights(self.model)
        return val_bpc

    def after_validation(self, metrics: runio.MetricsLog | None) -> None:
        """The metric rows up to this step made durable, then the checkpoint that counts them, then callbacks."""
        if metrics is not None:
            metrics.sync()
        self.checkpoint()
        for callback in self.on_eval:
            callback(self, self.step)

    def record_probe(self) -> Path:
        """Record the probe text with the current weights into recordings/step-XXXXXXX/."""
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
        progress=False hides the progress bar (only rank 0 shows one). The run folder's lock is
        released when it returns or raises."""
        try:
            return self._fit(progress)
        finally:
            self._lock.close()

    def _fit(self, progress: bool) -> dict:
        previous = self._handle_signals()
        chars_per_step = self.cfg.batch_size * self.cfg.seq_len
        bar, counts_seconds = self._progress_bar(disable=not (progress and self.dist.main))
        metrics = self.folder.metrics_log() if self.dist.main else None
        val_bpc = None
        try:
            self.model.train()
            while self._budget_left() and not self._agree_to_stop():
                t0 = time.perf_counter()
                lr = lr_at(self.cfg, self.step, self.seconds)
                train_bpc = self.train_step(lr)
                train_bpc, dt = (v / self.dist.world for v in self.dist.sum([train_bpc, time.perf_counter() - t0]))
                if not math.isfinite(train_bpc):
                    raise Diverged(f"training diverged at step {self.step + 1}: the loss is {train_bpc} "
                                   f"(learning rate {lr:.3g}); {self.out} keeps the best weights and the checkpoint "
                                   "of its last evaluation, if any: train again with a lower --lr or --clip")
                self.seconds += dt  # the mean over processes, so every process sees one clock
                self.step += 1
                val_bpc = self.validate() if self.step % self.cfg.eval_every == 0 else None
                if metrics is not None:
                    metrics.write([self.step, f"{self.seconds:.3f}", f"{lr:.3e}", f"{train_bpc:.4f}",
                                   f"{chars_per_step / dt:.0f}", "" if val_bpc is None else f"{val_bpc:.4f}"])
                if val_bpc is not None:
                    self.after_validation(metrics)
                if self.cfg.record_every and self.step % self.cfg.record_every == 0:
                    if self.dist.main:
                        self.record_probe()
                    self.dist.barrier()
                bar.update(min(dt, bar.total - bar.n) if counts_seconds else 1)
                bar.set_postfix(step=self.step, bpc=f"{train_bpc:.3f}", val=f"{self.best_val:.3f}",
                                cps=f"{chars_per_step / dt / 1000:.1f}k", refresh=False)
            if val_bpc is None:  # the last step was not an evaluation step
                self.validate()
                self.after_validation(metrics)
        finally:
            if metrics is not None:
                metrics.close()
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.finish()

    def _agree_to_stop(self) -> bool:
        """Whether any process was asked to stop (Ctrl-C or SIGTERM may reach one process first)."""
        self.stop_requested = self.dist.sum([float(self.stop_requested)])[0] > 0
        return self.stop_requested

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
        self.dist.barrier()  # rank 0 has written the best weights
        best = runio.load_run(self.out).model.to(self.cfg.device)
        test_bpc = None if self.stop_requested else evaluate_bpc(best, self.splits["test"], device=self.cfg.device,
                                                                  dist=self.dist)
        summary = {
            "steps": self.step, "seconds": round(self.seconds, 1), "interrupted": self.stop_requested,
            "best_val_bpc": round(self.best_val, 4),
            "test_bpc": None if test_bpc is None else round(test_bpc, 4),
            "train_chars_seen": self.step * self.cfg.batch_size * self.cfg.seq_len,
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }
        if self.dist.main:
            self.folder.save_summary(summary)
        return summary
