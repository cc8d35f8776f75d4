"""A latent as a unit in the causal tests (charnn.causal): the autoencoder behind a latent kind, and
the stepper hook that sets a latent, for `charnn ablate RUN TEXT --unit 0:sae-NAME:J` and for
clamping a latent while sampling, in the stepped path.

    sae = find_autoencoder(run, "sae-c0-2048-k32")    # RUN/recordings/*/sae/c0-2048-k32
    latent_hook(sae, 1214, value=2.0)        # a StateHook: the state with latent 1214 set to 2.0

Setting latent j to V at a step changes the state x it reads to x + (V - a_j(x)) * d_j, where a_j(x)
is j's activation on x (with the refit, as the recording stores it) and d_j = input_scale * W_dec[j]
its direction in the state's units: `zero` takes j's contribution out (charnn.sae.hooks.remove_latents),
`mean` holds it at its mean activation over the text, `clamp=V` at V. The changed state feeds the
following steps. Random baselines are latents of the same autoencoder drawn from those active
somewhere in the text (a latent that never fires changes nothing).

The autoencoder is found from the kind: `sae-NAME` is REC/sae/NAME of a recording of the run
(RUN/recordings/*/sae/NAME), or the folder given as `sae=`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..run import RunFolder
from ..stepper import StateHook
from ..units import Unit
from .kind import latent_name
from .model import SparseAutoencoder
from .store import SAEError, load_folder


def find_autoencoder(run, kind: str, sae: str | Path | SparseAutoencoder | None = None) -> SparseAutoencoder:
    """The autoencoder behind latent kind `kind` (sae-NAME): `sae` if given (a folder or an
    autoencoder), else the one folder named NAME under the run's recordings."""
    if isinstance(sae, SparseAutoencoder):
        return sae
    if sae is not None:
        return load_folder(Path(sae))
    name = latent_name(kind)
    recordings = RunFolder(run.path).recordings_dir
    found = sorted(recordings.glob(f"*/sae/{name}/config.json"))
    if len(found) != 1:
        where = "none" if not found else ", ".join(str(p.parent) for p in found)
        raise SAEError(f"kind {kind}: {'no' if not found else 'more than one'} autoencoder {name!r} under "
                       f"{recordings} (found {where}): name its folder with --sae REC/sae/{name}")
    return load_folder(found[0].parent)


def check_latent(unit: Unit, run, sae: SparseAutoencoder) -> Unit:
    """`unit` checked against the autoencoder (its layer, its latents) and the run's model."""
    cfg = sae.config
    if cfg.hidden != run.model_config.hidden:
        raise SAEError(f"autoencoder {sae.name!r} reads {cfg.hidden} units, the run's layers have {run.model_config.hidden}")
    if unit.layer != cfg.layer:
        raise ValueError(f"unit {unit}: its autoencoder reads layer {cfg.layer}, not {unit.layer}")
    return unit.check(run.model_config.layers, [unit.kind], cfg.latents)


def latent_hook(sae: SparseAutoencoder, index: int, value: float | None = None,
                where: torch.Tensor | None = None) -> StateHook:
    """Latent `index` set to `value` (None: removed) in the recurrence, wherever `where` (T, B)."""
    cfg = sae.config
    if value is None:
        latents = torch.as_tensor([index], device=sae.W_dec.device)
        return StateHook(cfg.layer, cfg.kind, lambda x: sae.remove(x, latents), where=where)
    return StateHook(cfg.layer, cfg.kind, lambda x: sae.set_latent(x, index, value), where=where)


def clamp_hooks(run, clamps: list[tuple[Unit, float]], sae=None) -> list[StateHook]:
    """StateHooks holding latent units at values (for charnn.causal.clamp_step_fn)."""
    hooks = []
    for unit, value in clamps:
        found = find_autoencoder(run, unit.kind, sae)
        check_latent(unit, run, found)
        hooks.append(latent_hook(found, unit.index, value))
    return hooks
