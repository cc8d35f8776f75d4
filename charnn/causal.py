"""Causal tests: ablate or clamp one unit and measure how the model's loss changes, per character,
against random units of the same layer and kind.

    charnn ablate runs/austen val --unit 0:c:37 --where '"' --random 20
    result = ablate(run, "val", "0:c:37", mode="zero", where='"', random_units=20)
    result.effect_ratio    # the unit's loss increase on --where characters / median random unit's

Scoring reads the text as parallel streams with a burn-in, like recording (charnn.recording.streams),
through the named-gate recording path with `Intervention`s applied at every step (or only at the
characters an `apply_inside` regex matches).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .corpus import Corpus
from .model import STATE_KINDS
from .recording.sources import corpus_string, text_corpus
from .run import Run, load_run
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
    return unit.check(cfg.layers, STATE_KINDS[cfg.cell], cfg.hidden)


def ablate(run, text: str | Corpus, unit: str | Unit, mode: str | Mode = "zero", where: str | None = None, apply_inside: str | None = None,
           random_units: int = 20, seed: int = 0, max_chars: int | None = None, streams: int = 256,
           burn_in: int = 256, progress: bool = True, device: str = "cpu", sae=None) -> AblationResult:
    """Ablate (zero/mean) or clamp `unit` and compare the loss change with `random_units` random units.

    text: a file, folder, bundled corpus name or split name (val, test), or a Corpus (text held in
    memory: `Corpus([Document("window", string)])`). device: where the passes run ("cuda" if there is one).
    A latent unit (kind sae-NAME) is set through its autoencoder's decoder direction, against random
    active latents (charnn.sae.causal); sae: its folder, when it is not RUN/recordings/*/sae/NAME.
    """
    run = run if isinstance(run, Run) else load_run(run)
    unit = check_unit(unit, run, latents=True)
    mode = Mode.parse(mode)
    if is_latent(unit.kind):
        from .sae.causal import ablate_latent
        return ablate_latent(run, text, unit, mode, where, apply_inside, random_units, seed, max_chars, streams,
                             burn_in, progress, device, sae)
    layer, kind, index = unit.layer, unit.kind, unit.index
    corpus = text_corpus(run, text, max_chars)
    string = corpus_string(corpus)
    scorer = StreamScorer(run, corpus.encode(run.vocab), streams, burn_in, step_layers={layer}, device=device)
    selected = regex_target(string, where).astype(bool) if where else np.ones(len(string), bool)
    apply_where = scorer.where_matrix(regex_target(string, apply_inside).astype(bool)) if apply_inside else None
    rng = np.random.default_rng(seed)
    others = [u for u in range(run.model_config.hidden) if u != index]
    randoms = sorted(rng.choice(others, size=min(random_units, len(others)), replace=False).tolist())
    bar = tqdm(total=2 + len(randoms), desc="ablate", unit="pass", disable=not progress)
    base, means = scorer.loss(mean_of=(layer, kind) if mode.name == "mean" else None)
    bar.update(1)

    def effect(u: int) -> np.ndarray:
        v = mode.held_value(means[u] if means is not None else 0.0)
        loss, _ = scorer.loss([Intervention(layer, kind, u, v, apply_where)])
        bar.update(1)
        return loss - base  # (n,)

    delta = effect(index)
    random_deltas = [float(np.nanmean(effect(u)[selected])) for u in randoms]
    bar.close()
    return summarize(str(unit), str(mode), string, selected, base, delta, randoms, random_deltas)


def clamp_step_fn(run: Run, clamps: list[tuple[Unit, float]], sae=None):
    """A `generate(step_fn=...)` that runs the recording path with units held at values (a latent
    unit through its autoencoder, charnn.sae.causal; sae: its folder, if not found from the run)."""
    stepper = Stepper(run.model)
    ivs = [Intervention(u.layer, u.kind, u.index, value) for u, value in clamps if not is_latent(u.kind)]
    latent = [(u, value) for u, value in clamps if is_latent(u.kind)]
    if latent:
        from .sae.causal import clamp_hooks
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
