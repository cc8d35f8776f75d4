"""How good an autoencoder is, on held-out characters, with the names SAELens uses.

    metrics = evaluate(rec, sae, start=split)      # characters [start, n_chars) of the recording

- `explained_variance`: 1 - sum |x - x^|^2 / sum |x - mean x|^2 over the held-out states, in the
  state's own units (the mean is the held-out mean); `explained_variance_scaled` the same in the
  autoencoder's scaled units (with `normalize="unit"`, every unit weighs the same).
- `l0`: mean number of active latents per character.
- `dead_features`: the share of latents that are never active on the held-out characters.
- `ce_loss_score_readout`, `ce_loss_score_recurrent`: (CE_zero - CE_spliced) / (CE_zero - CE_clean),
  the model's loss on the held-out text with the reconstruction spliced in:
  *readout*: at every step the layer passes on what the reconstruction makes of it (for c:
  o * tanh(c^); for h: h^) to the next layer or the output layer, while its own recurrence keeps
  the true state; *recurrent*: the reconstruction replaces the state at every step and is fed
  back into the following steps. CE_zero, the same for both splices: what the layer passes on is
  zero at every step (zeroing c makes o * tanh(c) zero, and a zeroed state fed back or only read
  out gives downstream the same zeros), so the score says how much of the loss that the layer's
  output is worth the reconstruction keeps.

The losses come from running the recording's run over the recording's text (charnn.causal's
StreamScorer: parallel streams with a burn-in, the stepped path, charnn.sae.hooks), from
`context` characters before `start`. Each stream reads its burn-in (and the context) with the
unchanged model and reaches its first held-out character with the state the model itself makes;
from there the hook applies at every step, so the recurrent splice feeds the reconstruction back
for up to `recurrent_steps` consecutive characters (the stream's segment). The means are over the
held-out characters.
"""

from __future__ import annotations

import numpy as np
import torch

from ..recording.replay import recording_ids, recording_run
from ..scoring import StreamScorer
from . import hooks
from .data import chunks
from .model import SparseAutoencoder

ROWS = 8192  # characters encoded at once: a dense (ROWS, latents) float32 block


@torch.no_grad()
def state_metrics(rec, sae: SparseAutoencoder, start: int, stop: int | None = None) -> dict:
    """explained_variance, l0, dead_features (and the mse) over rows [start, stop) of the recording."""
    cfg = sae.config
    stop = rec.n_chars if stop is None else stop
    n, total, squares, errors, active = 0, 0.0, 0.0, 0.0, 0  # sums per unit, in float64
    fired = torch.zeros(cfg.latents, dtype=torch.bool)
    for block in chunks(rec, cfg.layer, cfg.kind, start, stop, chunk_chars=ROWS):
        x = torch.from_numpy(block)  # (n, H)
        z = sae.encode(x)  # (n, L)
        err = (sae.decode(z) - x).double().pow(2).sum(0)  # (H,)
        active_rows = z != 0
        fired |= active_rows.any(0)
        n, active = n + len(x), active + int(active_rows.sum())
        total, squares, errors = total + x.double().sum(0), squares + x.double().pow(2).sum(0), errors + err
    if n == 0:
        raise ValueError(f"no held-out characters in [{start}, {stop})")
    variance = squares - total * total / n  # (H,) sum of (x - mean)^2 per unit
    weight = sae.input_scale.double() ** -2  # the same sums in the autoencoder's scaled units
    return {"explained_variance": float(1 - errors.sum() / variance.sum()), "l0": active / n,
            "dead_features": float((~fired).float().mean()), "mse": float(errors.sum() / n),
            "explained_variance_scaled": float(1 - (errors * weight).sum() / (variance * weight).sum()),
            "eval_chars": [start, stop]}


@torch.no_grad()
def ce_metrics(rec, sae: SparseAutoencoder, start: int, context: int = 256, streams: int = 256,
               device: str = "cpu") -> dict:
    """Loss in bits on characters [start, n) of the recording's text, clean, with the layer's
    output zeroed, and with each splice; and the two ce_loss_scores."""
    run = recording_run(rec)
    ids = recording_ids(rec, run)
    first = max(0, start - context)
    sae = sae.to(device)
    scorer = StreamScorer(run, ids[first:], streams=streams, step_layers={sae.config.layer}, device=device)
    held_out = np.arange(len(ids) - first) >= start - first  # (n,) local positions
    where = scorer.where_matrix(held_out, after_burn_in=True)  # (steps, B)

    def bits(hook=None) -> float:
        loss, _ = scorer.loss([hook] if hook else [])
        return float(np.nanmean(loss[start - first + 1 :]))  # predicted from held-out states

    clean, zeroed = bits(), bits(hooks.zero(sae, readout=True, where=where))
    readout = bits(hooks.splice(sae, readout=True, where=where))
    recurrent = bits(hooks.splice(sae, where=where))
    sae.cpu()
    span = zeroed - clean
    return {"ce_loss_score_readout": (zeroed - readout) / span, "ce_loss_score_recurrent": (zeroed - recurrent) / span,
            "ce_clean_bits": clean, "ce_zero_ablated_bits": zeroed, "ce_readout_bits": readout,
            "ce_recurrent_bits": recurrent, "recurrent_steps": scorer.plan.segment}


def evaluate(rec, sae: SparseAutoencoder, start: int, device: str = "cpu", streams: int = 256) -> dict:
    """Every metric on characters [start, n_chars) of `rec` (see the module docstring)."""
    return {**state_metrics(rec, sae, start), **ce_metrics(rec, sae, start, streams=streams, device=device)}
