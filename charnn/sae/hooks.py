"""Stepper hooks that put an autoencoder into the model (see charnn.stepper's StateHook).

    splice(sae)                 the state replaced by its reconstruction, fed back at every step
    splice(sae, readout=True)   only what the layer passes on reads the reconstruction
    zero(sae, readout=True)     what the layer passes on is zero
    remove_latents(sae, [j])    latent j's activation times its direction taken out of the state
"""

from __future__ import annotations

import torch

from ..stepper import StateHook
from .model import SparseAutoencoder


def splice(sae: SparseAutoencoder, readout: bool = False, where: torch.Tensor | None = None) -> StateHook:
    cfg = sae.config
    return StateHook(cfg.layer, cfg.kind, sae.reconstruct, where=where, readout=readout)


def zero(sae: SparseAutoencoder, readout: bool = False, where: torch.Tensor | None = None) -> StateHook:
    cfg = sae.config
    return StateHook(cfg.layer, cfg.kind, torch.zeros_like, where=where, readout=readout)


def remove_latents(sae: SparseAutoencoder, latents, where: torch.Tensor | None = None) -> StateHook:
    """Ablate `latents` in the recurrence: x -> x - sum_j a_j(x) * input_scale * W_dec[j]."""
    cfg = sae.config
    bad = [j for j in latents if not 0 <= int(j) < cfg.latents]
    if bad or not len(latents):
        raise ValueError(f"latents {bad or list(latents)} do not exist: the autoencoder has latents 0..{cfg.latents - 1}")
    index = torch.as_tensor([int(j) for j in latents], dtype=torch.long, device=sae.W_dec.device)
    return StateHook(cfg.layer, cfg.kind, lambda x: sae.remove(x, index), where=where)
