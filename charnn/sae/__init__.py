"""Sparse autoencoders over a layer's c or h states: a dictionary of many more directions than
units, each active on few characters, trained from a recording and checked by splicing its
reconstruction back into the model.

    charnn sae train runs/austen/recordings/val --kind c --k 32 --minutes 10
    charnn sae ablate runs/austen/recordings/val c0-2048-k32 --latent 17 --where '"'

    from charnn.sae import TrainOptions, train, load
    folder, metrics = train(rec, TrainOptions(layer=0, kind="c", k=32))   # REC/sae/c0-2048-k32/
    sae = load(rec, "c0-2048-k32")
    z = sae.encode(states)                     # (n, H) -> (n, latents): the latents as a kind

Modules: `model` (the autoencoder), `sparse` (its k-sparse autograd), `data` (shuffle buffer,
input scale), `training`, `metrics` (held-out explained variance, L0, dead latents, the loss with
the reconstruction spliced in), `hooks` (stepper hooks: splice, zero, remove latents), `causal`
(the autoencoder behind a latent kind, a latent's hook: latents are ablated by charnn.causal.ablate
like units), `kind` (the latents as kind sae-NAME of the recording), `store` (REC/sae/NAME/).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "SAEConfig": "model", "SparseAutoencoder": "model",
    "TrainOptions": "training", "train": "training", "fit": "training",
    "evaluate": "metrics",
    "load": "store", "names": "store",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
