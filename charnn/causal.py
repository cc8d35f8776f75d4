"""Causal tests: ablate or clamp a unit (or an autoencoder's latent, or several of one kind) and
measure how the model's loss changes, per character, against random units of the same layer and kind.

    charnn ablate runs/austen val --unit 0:c:37 --where '"' --random 20
    result = ablate(run, "val", "0:c:37", mode="zero", where='"', random_units=20)
    result.effect_ratio    # the unit's loss increase on --where characters / median random unit's
    ablate(run, "val", "0:sae-c0-2048-k32:3,0:sae-c0-2048-k32:40")   # two latents removed together

Scoring reads the text as parallel streams with a burn-in, like recording (charnn.recording.streams),
through the named-gate recording path with `Intervention`s applied at every step (or only at the
characters an `apply_inside` regex matches).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .corpus import Corpus
from .recording import Recording
from .recording.replay import recording_ids
from .recording.sources import corpus_string, text_corpus
from .run import Run, load_run
from .sae.causal import check_latent, clamp_hooks, find_autoencoder, latent_hook
from .sae.hooks import remove_latents
from .scoring import AblationResult, Mode, StreamScorer, finite_value, summarize
from .stepper import Intervention, Stepper
from .text.targets import regex_target
from .units import Unit, is_latent

__all__ = ["AblationResult", "Mode", "StreamScorer", "ablate", "check_unit", "clamp_step_fn", "parse_clamp"]


def check_unit(spec, run: Run, latents: bool = False) -> Unit:
    """A unit (or its LAYER:KIND:UNIT text) checked against the run's model; with `latents`, an
    autoencoder's latent (kind sae-NAME) passes through, to be checked against its autoencoder."""
    cfg = run.model_config
    unit = Unit.parse(spec)
    if latents and is_latent(unit.kind):
        return unit
    return unit.check(cfg.layers, run.model.cell.kinds, cfg.hidden)


def check_units(spec, run: Run) -> list[Unit]:
    """One unit or several of one layer and kind, ablated together: 'L:K:U', 'L:K:U,L:K:J', a Unit,
    or a list of them; each checked against the run's model (a latent: passed through)."""
    specs = spec.split(",") if isinstance(spec, str) else [spec] if isinstance(spec, (Unit, tuple)) else list(spec)
    units = [check_unit(s, run, latents=True) for s in specs]
    if not units:
        raise ValueError("no unit to ablate: give one, e.g. 0:c:37")
    if len({(u.layer, u.kind) for u in units}) > 1 or len(set(units)) < len(units):
        raise ValueError(f"units {', '.join(map(str, units))}: ablated together, they must be different units "
                         "of one layer and kind")
    return units


def read_text(run: Run, text, max_chars: int | None = None) -> tuple[str, np.ndarray]:
    """(string, (n,) ids) of what to score: a text spec (a file, folder, corpus name, split name or
    Corpus, charnn.recording.sources) or a Recording (its text as the model read it)."""
    if isinstance(text, Recording):
        n = text.n_chars if max_chars is None else max(1, min(text.n_chars, max_chars))
        return text.string[:n], recording_ids(text, run)[:n]
    corpus = text_corpus(run, text, max_chars)
    return corpus_string(corpus), corpus.encode(run.vocab)


def ablate(run, text: str | Corpus | Recording, unit, mode: str | Mode = "zero", where: str | None = None,
           apply_inside: str | None = None, random_units: int = 20, seed: int = 0, max_chars: int | None = None,
           streams: int = 256, burn_in: int = 256, progress: bool = True, device: str = "cpu", sae=None) -> AblationResult:
    """Ablate (zero/mean) or clamp `unit` and compare the loss change with `random_units` random units.

    unit: one unit, or several of one layer and kind changed together (see check_units); the random
    baseline then draws as many. text: see read_text (a Corpus holds a text in memory:
    `Corpus([Document("window", string)])`). device: where the passes run ("cuda" if there is one).
    A latent (kind sae-NAME) is changed through its autoencoder's decoder direction (zero removes
    it: x - a_j(x) * d_j), against random latents drawn from those active in the text (a latent that
    never fires changes nothing); sae: its folder or autoencoder, when it is not RUN/recordings/*/sae/NAME.
    """
    run = run if isinstance(run, Run) else load_run(run)
    units, mode = check_units(unit, run), Mode.parse(mode)
    layer, kind, group = units[0].layer, units[0].kind, [u.index for u in units]
    string, ids = read_text(run, text, max_chars)
    latent = None
    if is_latent(kind):
        latent = find_autoencoder(run, kind, sae)
        for u in units:
            check_latent(u, run, latent)
        latent = latent.to(device)
    scorer = StreamScorer(run, ids, streams, burn_in, step_layers={layer}, device=device)
    selected = regex_target(string, where).astype(bool) if where else np.ones(len(string), bool)
    apply_where = scorer.where_matrix(regex_target(string, apply_inside).astype(bool)) if apply_inside else None
    bar = tqdm(total=2 + random_units, desc="ablate", unit="pass", disable=not progress)
    base, means, pool = _base_pass(scorer, run, layer, kind, mode, latent)
    bar.update(1)
    draws = _draws(np.setdiff1d(pool, group), len(group), random_units, np.random.default_rng(seed))
    bar.total = 2 + len(draws)

    def effect(members: list[int]) -> np.ndarray:
        loss, _ = scorer.loss(_hooks(layer, kind, members, mode, means, apply_where, latent))
        bar.update(1)
        return loss - base  # (n,)

    delta = effect(group)
    random_deltas = [float(np.nanmean(effect(members)[selected])) for members in draws]
    bar.close()
    if latent is not None:
        latent.cpu()
    randoms = [members[0] if len(members) == 1 else members for members in draws]
    return summarize(",".join(map(str, units)), str(mode), string, selected, base, delta, randoms, random_deltas)


def _base_pass(scorer: StreamScorer, run: Run, layer: int, kind: str, mode: Mode, sae):
    """(loss (n,), per-unit means or None, the units the random baseline draws from): a model
    unit's whole layer, or the latents active somewhere in the text."""
    if sae is None:
        base, means = scorer.loss(mean_of=(layer, kind) if mode.name == "mean" else None)
        return base, None if means is None else means.numpy(), np.arange(run.model_config.hidden)

    def latent_stats(state: torch.Tensor) -> torch.Tensor:
        z = sae.encode(state)  # (..., L)
        return torch.cat([z, (z != 0).to(z.dtype)], -1)  # the mean: each latent's mean value, then its firing rate

    base, stats = scorer.loss(mean_of=(sae.config.layer, sae.config.kind), transform=latent_stats)  # the state it reads
    L = sae.config.latents
    return base, stats[:L].numpy(), np.flatnonzero(stats[L:].numpy() > 0)


def _draws(pool: np.ndarray, size: int, count: int, rng) -> list[list[int]]:
    """The random baseline: `count` different units, or `count` groups of `size` when several are ablated."""
    if size == 1:
        return [[u] for u in sorted(rng.choice(pool, size=min(count, len(pool)), replace=False).tolist())]
    return [sorted(rng.choice(pool, size=size, replace=False).tolist()) for _ in range(count if len(pool) >= size else 0)]


def _hooks(layer: int, kind: str, members: list[int], mode: Mode, means, where, sae) -> list:
    """The stepper hooks that change `members` of (layer, kind) as `mode` says, at the steps `where` marks."""
    if sae is None:
        return [Intervention(layer, kind, u, mode.held_value(means[u] if means is not None else 0.0), where)
                for u in members]
    if mode.name == "zero":
        return [remove_latents(sae, members, where)]
    return [latent_hook(sae, j, mode.held_value(means[j]), where) for j in members]


def clamp_step_fn(run: Run, clamps: list[tuple[Unit, float]], sae=None):
    """A `generate(step_fn=...)` that runs the recording path with units held at values (a latent
    unit through its autoencoder, charnn.sae.causal; sae: its folder, if not found from the run)."""
    stepper = Stepper(run.model)
    ivs = [Intervention(u.layer, u.kind, u.index, value) for u, value in clamps if not is_latent(u.kind)]
    latent = [(u, value) for u, value in clamps if is_latent(u.kind)]
    if latent:
        ivs += clamp_hooks(run, latent, sae)
    for iv in ivs:
        stepper.check_intervention(iv)

    def step(ids, state):
        logits, state, _ = stepper.run(ids, state, interventions=ivs)
        return logits, state
    return step


def parse_clamp(spec: str, run: Run) -> tuple[Unit, float]:
    """'LAYER:KIND:UNIT=V' -> (unit, value), checked against the run's model; V must be finite."""
    if "=" not in str(spec):
        raise ValueError(f"clamp {spec!r} is not LAYER:KIND:UNIT=VALUE, e.g. 0:c:37=1.5")
    unit, value = str(spec).split("=", 1)
    return check_unit(unit, run, latents=True), finite_value(value, f"clamp value in {spec!r}")
