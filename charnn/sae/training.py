"""Training a sparse autoencoder on one layer's states in a recording.

    folder, metrics = train(rec, TrainOptions(layer=0, kind="c", k=32, steps=4000))   # REC/sae/c0-2048-k32/, kind sae-c0-2048-k32
    sae, log = fit(rec, TrainOptions(...))                                              # train only

The first `1 - eval_fraction` of the recording's characters are trained on (the rest is held out
for charnn.sae.metrics). Each step reads `batch` random rows from a shuffle buffer and minimises
the normalised reconstruction error |u - u^|^2 / |u - mean u|^2 (one minus the explained
variance on the batch), with Adam, a short warmup and a linear decay over the last fifth.

Dead latents (TopK): a latent that has not fired for `dead_after` characters is dead, and the
AuxK loss of Gao et al. (2024) revives it: the `aux_k` dead latents with the largest
pre-activations reconstruct the residual u - u^ that the live ones leave, weighted by
`aux_coef` (1/32 as in the paper). Decoder rows are kept at unit norm (the gradient along each row
is removed before the step and the row renormalised after it).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..recording import Recording, RecordingError, open_recording
from ..recording.replay import recording_run
from . import sparse
from .data import ShuffleBuffer, check_states, input_scale
from .kind import add_latents, latent_kind
from .metrics import evaluate
from .model import ACTIVATIONS, NORMALIZE, SAEConfig, SparseAutoencoder
from .store import check_name, save

SAE_KINDS = ("c", "h")


@dataclass
class TrainOptions:
    layer: int = 0
    kind: str = "c"  # c | h
    latents: int | None = None  # None: 8 x the layer's units
    k: int = 32  # active latents per character (topk)
    activation: str = "topk"  # topk | relu (L1 penalty `l1` instead of a fixed k)
    normalize: str = "unit"  # unit | global: how states are scaled (charnn.sae.model)
    l1: float = 0.0  # relu: penalty on the sum of activations (decoder rows have unit norm)
    steps: int | None = 5000  # None: until `minutes` is spent
    minutes: float | None = None  # wall-clock budget; the lr schedule follows whichever ends first
    batch: int = 4096  # characters per step
    lr: float = 1e-3
    seed: int = 0
    eval_fraction: float = 0.2  # the last part of the recording, held out for the metrics
    dead_after: int = 200_000  # characters without firing that make a latent dead
    aux_k: int | None = None  # None: H / 2 (Gao et al.)
    aux_coef: float = 1 / 32
    buffer: int = 1 << 18  # rows in the shuffle buffer
    warmup: int = 100  # steps of linear lr warmup
    device: str = "cpu"

    def __post_init__(self):
        if self.kind not in SAE_KINDS:
            raise ValueError(f"kind must be c or h (the states a layer carries), not {self.kind!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {self.activation!r}")
        if self.steps is None and not self.minutes:
            raise ValueError("give a number of steps or a number of minutes")
        if self.steps is not None and self.steps < 1 or self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"steps and minutes must be positive (got {self.steps}, {self.minutes})")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, not {self.normalize!r}")
        if not 0 < self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be between 0 and 1, not {self.eval_fraction}")
        if self.batch < 1 or self.lr <= 0 or self.l1 < 0:
            raise ValueError(f"batch and lr must be positive and l1 non-negative (got {self.batch}, {self.lr}, {self.l1})")

    def to_dict(self) -> dict:
        return asdict(self)


def split_point(n_chars: int, eval_fraction: float) -> int:
    """Characters [0, split) train the autoencoder; [split, n_chars) are held out."""
    return max(1, min(n_chars - 1, round(n_chars * (1 - eval_fraction))))


def lr_at(opts: TrainOptions, step: int, seconds: float) -> float:
    """Linear warmup, constant, then linear decay to 0 over the last fifth of the steps or time."""
    done = step / opts.steps if opts.steps else 0.0
    if opts.minutes:
        done = max(done, seconds / (opts.minutes * 60))
    warm = min(1.0, (step + 1) / max(1, opts.warmup))
    return opts.lr * warm * min(1.0, max(0.0, (1 - done) / 0.2))


def normalized_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|target - recon|^2 / |target - mean target|^2 over the batch: 1 - explained variance."""
    error = (recon - target).pow(2).sum(-1).mean()
    return error / (target - target.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-12)


class Trainer:
    def __init__(self, sae: SparseAutoencoder, opts: TrainOptions):
        self.sae, self.opts = sae, opts
        cfg = sae.config
        self.aux_k = opts.aux_k or cfg.hidden // 2
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=opts.lr, betas=(0.9, 0.999), eps=6.25e-10)
        self.since_fired = torch.zeros(cfg.latents, dtype=torch.long, device=sae.W_dec.device)  # characters

    def loss(self, u: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """u (n, H): scaled states -> (loss, numbers to log)."""
        if self.sae.config.activation == "relu":
            return self._relu_loss(u)
        return self._topk_loss(u)

    def _topk_loss(self, u: torch.Tensor):
        sae, k = self.sae, self.sae.config.k
        centered = u - sae.b_dec  # (n, H)
        with torch.no_grad():
            pre = torch.addmm(sae.b_enc, centered, sae.W_enc.t())  # (n, L): every latent, to choose
            values, indices = pre.topk(k, dim=1, sorted=False)  # (n, k)
        acts = sparse.encode_selected(centered, sae.W_enc, sae.b_enc, indices, values).relu()  # (n, k)
        recon = sparse.decode(indices, acts, sae.W_dec) + sae.b_dec  # (n, H)
        main = normalized_mse(recon, u)
        fired = torch.zeros_like(self.since_fired).index_add_(0, indices.reshape(-1), (acts > 0).reshape(-1).long())
        self._count_firing(fired > 0, len(u))
        dead = self.since_fired > self.opts.dead_after
        aux = self._aux_loss(pre, dead, centered, (u - recon).detach()) if dead.any() else torch.zeros((), device=u.device)
        loss = main + self.opts.aux_coef * aux
        return loss, {"nmse": main.item(), "aux": aux.item(), "dead": int(dead.sum()),
                      "l0": float((acts > 0).sum(1).float().mean())}

    def _aux_loss(self, pre: torch.Tensor, dead: torch.Tensor, centered: torch.Tensor, residual: torch.Tensor):
        """AuxK: the aux_k dead latents with the largest pre-activations (n, L) reconstruct the
        residual (n, H) that the live ones leave."""
        sae = self.sae
        with torch.no_grad():
            values, indices = pre.masked_fill_(~dead, -math.inf).topk(min(self.aux_k, int(dead.sum())), dim=1, sorted=False)
        acts = sparse.encode_selected(centered, sae.W_enc, sae.b_enc, indices, values).relu()  # (n, aux_k)
        return normalized_mse(sparse.decode(indices, acts, sae.W_dec), residual)

    def _relu_loss(self, u: torch.Tensor):
        sae = self.sae
        z = torch.addmm(sae.b_enc, u - sae.b_dec, sae.W_enc.t()).relu()  # (n, L)
        recon = z @ sae.W_dec + sae.b_dec  # (n, H)
        main = normalized_mse(recon, u)
        penalty = z.sum(1).mean()
        self._count_firing((z > 0).any(0), len(u))
        n_dead = int((self.since_fired > self.opts.dead_after).sum())
        loss = main + self.opts.l1 * penalty
        return loss, {"nmse": main.item(), "l1": penalty.item(), "dead": n_dead, "l0": float((z > 0).sum(1).float().mean())}

    def _count_firing(self, fired: torch.Tensor, n: int) -> None:
        self.since_fired += n
        self.since_fired[fired] = 0

    def step(self, u: torch.Tensor, lr: float) -> dict:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, log = self.loss(u)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.sae.project_decoder_grad_()
        self.optimizer.step()
        self.sae.normalize_decoder_()
        return log


def initial_autoencoder(rec, opts: TrainOptions, split: int) -> SparseAutoencoder:
    """Random unit-norm directions, the input scale of rows [0, split), b_dec their mean."""
    scale, mean = input_scale(rec, opts.layer, opts.kind, split, opts.normalize)
    sae = SparseAutoencoder(SAEConfig(layer=opts.layer, kind=opts.kind, hidden=rec.hidden,
                                      latents=opts.latents or 8 * rec.hidden, k=opts.k, activation=opts.activation,
                                      normalize=opts.normalize))
    sae.reset_parameters(torch.Generator().manual_seed(opts.seed))
    with torch.no_grad():
        sae.input_scale.copy_(torch.from_numpy(scale))
        sae.b_dec.copy_(torch.from_numpy(mean / scale))
    return sae


def fit(rec, opts: TrainOptions, progress: bool = True) -> tuple[SparseAutoencoder, dict]:
    """Train an autoencoder on rows [0, split) of `rec`'s (opts.layer, opts.kind); returns it and a
    training log (steps, seconds, characters per second, the last steps' numbers)."""
    check_states(rec, opts.layer, opts.kind)
    split = split_point(rec.n_chars, opts.eval_fraction)
    sae = initial_autoencoder(rec, opts, split).to(opts.device)
    scale = sae.input_scale  # (H,) on the device
    trainer = Trainer(sae, opts)
    rows = iter(ShuffleBuffer(rec, opts.layer, opts.kind, split, opts.batch, opts.buffer, opts.seed, opts.device))
    total = opts.steps if opts.steps else round(opts.minutes * 60)
    bar = tqdm(total=total, desc="sae", unit="step" if opts.steps else "s", disable=not progress, dynamic_ncols=True)
    started, step, recent = time.perf_counter(), 0, []
    while True:
        seconds = time.perf_counter() - started
        if (opts.steps and step >= opts.steps) or (opts.minutes and seconds >= opts.minutes * 60):
            break
        log = trainer.step(next(rows) / scale, lr_at(opts, step, seconds))
        recent = (recent + [log])[-50:]
        step += 1
        bar.update(1 if opts.steps else round(time.perf_counter() - started) - bar.n)
        if step % 50 == 0:
            bar.set_postfix(nmse=f"{log['nmse']:.4f}", l0=f"{log['l0']:.1f}", dead=log["dead"])
    bar.close()
    seconds = time.perf_counter() - started
    sae.cpu().eval()
    summary = {key: sum(r[key] for r in recent) / len(recent) for key in recent[0]} if recent else {}
    return sae, {"steps": step, "seconds": round(seconds, 2), "chars_per_second": round(step * opts.batch / seconds),
                 "train_chars": [0, split], "last_steps": summary}


def default_name(opts: TrainOptions, hidden: int) -> str:
    """e.g. c0-2048-k32: kind, layer, latents, k (or the L1 penalty, l1-0p001 for 0.001)."""
    sparsity = f"k{opts.k}" if opts.activation == "topk" else f"l1-{opts.l1:g}".replace(".", "p")  # no '.' in a kind
    return f"{opts.kind}{opts.layer}-{opts.latents or 8 * hidden}-{sparsity}"


def train(rec, opts: TrainOptions, name: str | None = None, progress: bool = True,
          add: bool = True) -> tuple[Path, dict]:
    """Train on the first part of `rec`, evaluate on the rest, save as REC/sae/NAME/ and (add) store
    the latents as kind sae-NAME of the recording (charnn.sae.kind); returns the folder and the
    metrics (charnn.sae.metrics)."""
    rec = rec if isinstance(rec, Recording) else open_recording(rec)
    name = check_name(name or default_name(opts, rec.hidden))
    kind = latent_kind(name)
    if any(rec.stored(layer, kind) for layer in range(rec.layers)):  # checked before the training time is spent
        raise RecordingError(f"{rec.path} already stores kind {kind}, the latents of autoencoder {name!r}: "
                             f"train under another --name")
    recording_run(rec)  # the metrics rerun the model: find it before spending the training time
    sae, log = fit(rec, opts, progress)
    metrics = evaluate(rec, sae, start=log["train_chars"][1], device=opts.device)
    folder = save(rec, name, sae, opts.to_dict(), log, metrics)
    if add:
        add_latents(rec, name, progress)
    return folder, metrics
