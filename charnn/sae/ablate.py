"""Latent ablation: the loss change when latents are taken out of the state at every step,
against random latents, reported like a unit's ablation (charnn.causal.ablate).

    charnn sae ablate runs/austen/recordings/val c0-2048-k32 --latent 17 --where '"' --random 20
    result = ablate_latents(rec, "c0-2048-k32", [17], where='"')
    result.effect_ratio     # loss increase on --where characters / the median random latent's

Ablating latent j at a step subtracts a_j(x) * input_scale * W_dec[j] from the state x, where
a_j(x) is j's activation on that state; the changed state feeds the following steps (the
stepped path, charnn.sae.hooks.remove_latents). Several latents are removed together. The
random baseline removes as many latents, drawn from those active somewhere in the text (a
latent that never fires changes nothing and would make any latent look strong).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..scoring import AblationResult, StreamScorer, summarize
from ..recording import Recording, open_recording
from ..text.targets import regex_target
from ..units import Unit
from . import hooks
from .data import chunks
from .metrics import ROWS
from .kind import latent_kind
from .model import SparseAutoencoder
from .source import recording_ids, recording_run
from .store import load


@torch.no_grad()
def active_latents(rec, sae: SparseAutoencoder, stop: int) -> np.ndarray:
    """Indices of the latents active on at least one of the characters [0, stop)."""
    cfg = sae.config
    fired = torch.zeros(cfg.latents, dtype=torch.bool)
    for block in chunks(rec, cfg.layer, cfg.kind, 0, stop, chunk_chars=ROWS):
        fired |= (sae.encode(torch.from_numpy(block)) != 0).any(0)
    return np.flatnonzero(fired.numpy())


def ablate_latents(rec, sae: str | SparseAutoencoder, latents, where: str | None = None,
                   apply_inside: str | None = None, random_latents: int = 20, seed: int = 0,
                   max_chars: int | None = None, streams: int = 256, burn_in: int = 256, progress: bool = True,
                   device: str = "cpu") -> AblationResult:
    """Remove `latents` of `sae` (a name under REC/sae/, or an autoencoder) in the model reading
    the recording's text; `where` selects the characters to report on, `apply_inside` the ones
    to ablate at (default: everywhere)."""
    rec = rec if isinstance(rec, Recording) else open_recording(rec)
    sae = load(rec, sae) if isinstance(sae, str) else sae
    cfg, latents = sae.config, [int(j) for j in latents]
    hooks.remove_latents(sae, latents)  # checks the indices before any pass
    run = recording_run(rec)
    n = rec.n_chars if max_chars is None else max(1, min(rec.n_chars, max_chars))
    string, ids = rec.string[:n], recording_ids(rec, run)[:n]
    pool = np.setdiff1d(active_latents(rec, sae.cpu(), n), latents)
    sae = sae.to(device)
    scorer = StreamScorer(run, ids, streams, burn_in, step_layers={cfg.layer}, device=device)
    selected = regex_target(string, where).astype(bool) if where else np.ones(n, bool)
    apply_where = scorer.where_matrix(regex_target(string, apply_inside).astype(bool)) if apply_inside else None
    rng = np.random.default_rng(seed)
    draws = [sorted(rng.choice(pool, size=len(latents), replace=False).tolist())
             for _ in range(random_latents if len(pool) >= len(latents) else 0)]
    bar = tqdm(total=2 + len(draws), desc="ablate", unit="pass", disable=not progress)
    base, _ = scorer.loss()
    bar.update(1)

    def effect(group) -> np.ndarray:
        loss, _ = scorer.loss([hooks.remove_latents(sae, group, apply_where)])
        bar.update(1)
        return loss - base  # (n,)

    delta = effect(latents)
    random_deltas = [float(np.nanmean(effect(group)[selected])) for group in draws]
    bar.close()
    sae.cpu()
    kind = latent_kind(sae.name) if sae.name else "sae"  # an autoencoder never saved has no kind of its own
    name = ",".join(str(Unit(cfg.layer, kind, j)) for j in latents)
    randoms = [group[0] if len(group) == 1 else group for group in draws]
    return summarize(name, "remove", string, selected, base, delta, randoms, random_deltas)
