"""An autoencoder's latents as a kind of the recording it was trained on: `sae-NAME`.

    charnn sae add runs/austen/recordings/val c0-2048-k32     # stores kind sae-c0-2048-k32 in layer 0
    add_latents(rec, "c0-2048-k32")                          # the same in Python; returns the kind
    rec.activations(0, "sae-c0-2048-k32", units=[1214])      # latent 1214, read like any unit

The kind of the autoencoder `REC/sae/NAME/` is `sae-NAME`, in the layer it reads, with one unit
per latent: latent 1214 is the unit `0:sae-c0-2048-k32:1214`. Several autoencoders of one
recording (over c and h, other sizes or k) are then kinds side by side, and a latent unit names
its autoencoder (`latent_name`), which charnn.sae.causal finds again: ablation and clamping
need its decoder.
A kind name is lowercase letters, digits, `-` and `_`, at most 32 characters, so an
autoencoder's name is at most 28 of those (charnn.sae.store checks it when it saves or loads).

The values stored are `sae.encode(states)` (with the refit, as everywhere the autoencoder is used),
computed a window of rows at a time from the stored states: memory stays flat whatever the
recording's length.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..units import LATENT_PREFIX, Unit, is_latent
from .data import check_states
from .model import SparseAutoencoder
from .store import SAEError, check_name, load


def latent_kind(name: str) -> str:
    """The kind that holds the latents of autoencoder `name`: sae-NAME."""
    return LATENT_PREFIX + check_name(name)


def latent_name(kind: str) -> str:
    """The autoencoder whose latents kind `kind` (sae-NAME) holds: NAME."""
    if not is_latent(kind):
        raise ValueError(f"kind {kind!r} is not an autoencoder's latents (those are {LATENT_PREFIX}NAME)")
    return kind[len(LATENT_PREFIX):]


def latent_units(rec, name: str, indices) -> tuple[SparseAutoencoder, list[Unit]]:
    """Autoencoder `name` of `rec` (REC/sae/NAME/) and its latents `indices` as units L:sae-NAME:J."""
    sae = load(rec, name)
    return sae, [Unit(sae.config.layer, latent_kind(name), int(j)) for j in indices]


@torch.no_grad()
def add_latents(rec, name: str, progress: bool = True) -> str:
    """Store the latents of autoencoder `name` (REC/sae/NAME/) as kind sae-NAME of its layer in
    `rec`; returns the kind. An error if the kind is already there (the recording is unchanged)."""
    kind = latent_kind(name)
    sae = load(rec, name)
    cfg = sae.config
    check_states(rec, cfg.layer, cfg.kind)
    if cfg.hidden != rec.hidden:
        raise SAEError(f"autoencoder {name!r} reads {cfg.hidden} units but {rec.path} has {rec.hidden}: "
                       f"it was trained on another recording")
    bar = tqdm(total=rec.n_chars, desc=f"add {kind}", unit="char", unit_scale=True, disable=not progress,
               dynamic_ncols=True)

    def values(start: int, stop: int) -> np.ndarray:
        states = torch.from_numpy(rec.activations(cfg.layer, cfg.kind, start=start, stop=stop))  # (n, H)
        bar.update(stop - start)
        return sae.encode(states).numpy()  # (n, latents)

    try:
        rec.add_kind(cfg.layer, kind, cfg.latents, values)
    finally:
        bar.close()
    return kind
