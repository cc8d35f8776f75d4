"""Where a trained autoencoder lives: `REC/sae/NAME/` beside the recording it was trained on.

    REC/sae/NAME/
      sae.safetensors    W_enc (latents, H), b_enc (latents,), W_dec (latents, H), b_dec (H,), input_scale (H,)
      config.json        the SAEConfig (layer, kind, sizes, k, normalize, refit), the training options,
                         the recording it read (id, characters trained on) and the training log
      metrics.json       explained_variance, l0, dead_features, ce_loss_score_readout, ... on
                         the held-out characters (see charnn.sae.metrics)

The folder is written whole into a temporary folder and renamed into place, so a kill leaves
the previous autoencoder of that name or none, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..fsio import atomic_dir, write_json
from ..names import check_name as check_plain_name
from ..units import LATENT_PREFIX, check_kind
from .model import SAEConfig, SparseAutoencoder

FORMAT = 1


class SAEError(FileNotFoundError):
    """An autoencoder folder that is missing or unreadable."""


def check_name(name: str) -> str:
    """`name` if it names an autoencoder: its latents' kind, sae-NAME, is a kind name (charnn.units.check_kind),
    and as a folder name it starts with a letter or a digit."""
    check_plain_name(name, "autoencoder name")
    try:
        check_kind(LATENT_PREFIX + name)
        if not name[:1].isalnum():
            raise ValueError("it starts with neither a letter nor a digit")
    except (TypeError, ValueError) as err:
        raise ValueError(f"autoencoder name {name!r} is not a name for a folder REC/sae/NAME whose latents are "
                         f"kind sae-NAME ({err}), e.g. c0-2048-k32") from None
    return name


def sae_folder(rec, name: str) -> Path:
    return Path(rec.path) / "sae" / check_name(name)


def is_autoencoder(folder: Path) -> bool:
    """Whether `folder` holds an autoencoder charnn saved (what `save` may replace)."""
    return (Path(folder) / "config.json").is_file() and (Path(folder) / "sae.safetensors").is_file()


def names(rec) -> list[str]:
    """The autoencoders trained on `rec`."""
    root = Path(rec.path) / "sae"
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []


def save(rec, name: str, sae: SparseAutoencoder, options: dict, log: dict, metrics: dict) -> Path:
    folder = sae_folder(rec, name)
    with atomic_dir(folder, is_autoencoder, "autoencoder") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}, str(tmp / "sae.safetensors"))
        write_json(tmp / "config.json", {
            "format": FORMAT, "sae": sae.config.to_dict(), "train": options,
            "recording": {"path": str(rec.path), "recording_id": rec.meta.get("recording_id"), "n_chars": rec.n_chars},
            "log": log,
        })
        write_json(tmp / "metrics.json", metrics)
    sae.name = name
    return folder


def load(rec, name: str) -> SparseAutoencoder:
    folder = sae_folder(rec, name)
    if not (folder / "config.json").is_file():
        have = ", ".join(names(rec)) or "none"
        raise SAEError(f"no autoencoder {name!r} in {Path(rec.path) / 'sae'} (have: {have}): "
                       f"train one with `charnn sae train {rec.path} --name {name}`")
    return load_folder(folder)


def load_folder(folder: Path) -> SparseAutoencoder:
    """The autoencoder saved in `folder` (REC/sae/NAME), named NAME."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise SAEError(f"{folder} is not an autoencoder (no config.json): give a folder REC/sae/NAME")
    config = json.loads((folder / "config.json").read_text())
    if config.get("format", 0) > FORMAT:
        raise SAEError(f"{folder} was written by a newer charnn (format {config['format']}): upgrade charnn")
    sae = SparseAutoencoder(SAEConfig(**config["sae"]))
    sae.load_state_dict(load_file(str(folder / "sae.safetensors")))
    sae.name = check_name(folder.name)
    return sae.eval()


def trained_chars(rec, name: str) -> int:
    """The autoencoder `name` trained on characters [0, trained_chars) of `rec`, and never saw the rest
    (0 for one saved without training on it)."""
    folder = sae_folder(rec, name)
    if not (folder / "config.json").is_file():
        raise SAEError(f"no autoencoder {name!r} in {Path(rec.path) / 'sae'}: its latents cannot be scored held out")
    log = json.loads((folder / "config.json").read_text()).get("log") or {}
    return int(log.get("train_chars", [0, 0])[1])

