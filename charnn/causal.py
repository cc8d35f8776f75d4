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

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .corpus import Corpus
from .model import STATE_KINDS
from .recording.sources import corpus_string, text_corpus
from .recording.streams import StreamPlan
from .run import Run, load_run, model_on
from .stepper import Intervention, Stepper
from .limits import check_magnitude
from .units import Unit, is_latent

LN2 = math.log(2)


def check_unit(spec, run: Run, latents: bool = False) -> Unit:
    """A unit (or its LAYER:KIND:UNIT text) checked against the run's model; with `latents`, an
    autoencoder's latent (kind sae-NAME) passes through, to be checked against its autoencoder."""
    cfg = run.model_config
    unit = Unit.parse(spec)
    if latents and is_latent(unit.kind):
        return unit
    return unit.check(cfg.layers, STATE_KINDS[cfg.cell], cfg.hidden)


@dataclass(frozen=True)
class Mode:
    """What an intervention does to a unit: `zero`, `mean` (its mean over the text) or `clamp=V`."""

    name: str  # zero | mean | clamp
    value: float | None = None  # the clamp value

    @classmethod
    def parse(cls, spec) -> "Mode":
        """'zero' | 'mean' | 'clamp=V' (or a Mode) -> Mode; anything else, or a non-finite V, is a ValueError."""
        if isinstance(spec, Mode):
            return spec
        spec = str(spec).strip()
        if spec in ("zero", "mean"):
            return cls(spec)
        if spec.startswith("clamp="):
            return cls.of("clamp", spec.split("=", 1)[1])
        raise ValueError(f"mode {spec!r} must be zero, mean or clamp=V")

    @classmethod
    def of(cls, name: str, value=None) -> "Mode":
        """From a form's two fields: a mode name and, for clamp, the value as typed."""
        if name in ("zero", "mean"):
            return cls(name)
        if name != "clamp":
            raise ValueError(f"mode {name!r} must be zero, mean or clamp")
        return cls("clamp", finite_value(value, "clamp value"))

    def __str__(self) -> str:
        return self.name if self.name != "clamp" else f"clamp={self.value:g}"

    def held_value(self, unit_mean: float) -> float:
        """The value the unit is held at: 0, its mean, or the clamp value."""
        return {"zero": 0.0, "mean": float(unit_mean)}.get(self.name, self.value)


def finite_value(text, what: str) -> float:
    """A finite float within +-MAX_MAGNITUDE from user input, or a ValueError saying what is wrong."""
    shown = "" if text is None else str(text).strip()
    if not shown:
        raise ValueError(f"{what} is missing: type a number, e.g. 1.5")
    try:
        number = float(shown)
    except ValueError:
        raise ValueError(f"{what} {shown!r} is not a number: type one, e.g. 1.5 or -2") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} {shown!r} must be a finite number")
    return check_magnitude(number, what, shown)


class StreamScorer:
    """Per-character loss of one text under any set of stepper hooks (one pass per call)."""

    def __init__(self, run: Run, ids: np.ndarray, streams: int = 256, burn_in: int = 256, step_layers=(),
                 device: str = "cpu"):
        """step_layers: the layers that interventions will touch, stepped in every pass (see Stepper.run)."""
        self.run, self.device, self.step_layers = run, torch.device(device), set(step_layers)
        self.stepper = Stepper(model_on(run, self.device), reuse_outputs=True)  # states are used within a window
        self.plan = StreamPlan.make(len(ids), streams, burn_in)
        self.matrix = self.plan.id_matrix(ids).to(self.device)  # (B, steps + 1)
        starts = np.array([self.plan.start(b) for b in range(self.plan.streams)])
        self.positions = starts[:, None] + np.arange(self.plan.steps + 1)  # (B, steps + 1) text positions

    def where_matrix(self, mask: np.ndarray, after_burn_in: bool = False) -> torch.Tensor:
        """(steps, B) bool, time-major: True where the stream reads a masked position (and, with
        after_burn_in, only from the step where the stream starts scoring: a hook then starts
        from the state that the unchanged model reached over the burn-in)."""
        padded = np.concatenate([mask, [False]])
        where = padded[np.minimum(self.positions[:, :-1], len(mask))].T.copy()  # (steps, B)
        if after_burn_in:
            first = np.array([self.plan.recorded_steps(b)[0] for b in range(self.plan.streams)])
            where &= np.arange(self.plan.steps)[:, None] >= first[None, :]
        return torch.from_numpy(where).to(self.device)

    @torch.no_grad()
    def loss(self, interventions=(), mean_of: tuple[int, str] | None = None, window: int = 128, transform=None):
        """(n,) loss in bits (NaN at position 0) and, if `mean_of=(layer, kind)`, that state's per-unit
        mean (of `transform(state)`, (..., H) -> (..., F), if given: an autoencoder's latents)."""
        plan, n = self.plan, self.plan.n
        out = np.full(n, np.nan, dtype=np.float32)
        total, count = 0.0, 0
        ranges = [plan.recorded_steps(b) for b in range(plan.streams)]
        state = None
        for s0 in range(0, plan.steps, window):
            s1 = min(plan.steps, s0 + window)
            ivs = [iv.window(s0, s1) for iv in interventions]
            kinds = {mean_of[1]} if mean_of else set()
            logits, state, states = self.stepper.run(self.matrix[:, s0:s1], state, kinds, ivs, stepped=self.step_layers)
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), self.matrix[:, s0 + 1 : s1 + 1], reduction="none")
            nll = (nll / LN2).cpu().numpy()  # (B, W): bits for the position after each step
            for b, (lo, hi) in enumerate(ranges):
                a, z = max(lo - 1, s0), min(hi - 1, s1)  # step s predicts the position read at s + 1
                if a < z:
                    first = self.positions[b, a + 1]
                    out[first : first + z - a] = nll[b, a - s0 : z - s0]
                if mean_of:
                    a, z = max(lo, s0), min(hi, s1)
                    if a < z:
                        block = states[(mean_of[0], mean_of[1])][a - s0 : z - s0, b]  # (t, H)
                        block = block if transform is None else transform(block)  # (t, F)
                        total, count = total + block.double().sum(0), count + (z - a)
        return out, (total / count).float().cpu() if mean_of else None


@dataclass
class AblationResult:
    unit: str
    mode: str
    n_chars: int
    n_selected: int
    base_bpc_selected: float
    base_bpc_other: float
    delta_selected: float  # mean loss change in bits on the selected characters
    delta_other: float
    random_delta_selected: list = field(default_factory=list)
    random_units: list = field(default_factory=list)
    random_median_selected: float = 0.0
    effect_ratio: float = 0.0  # delta_selected / median |delta_selected| of the random units
    top_positions: list = field(default_factory=list)  # (pos, delta, context) of the largest increases
    per_char_delta: np.ndarray | None = None  # (n,) bits, NaN at position 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("per_char_delta")
        return d


def ablate(run, text: str | Corpus, unit: str | Unit, mode: str | Mode = "zero", where: str | None = None, apply_inside: str | None = None,
           random_units: int = 20, seed: int = 0, max_chars: int | None = None, streams: int = 256,
           burn_in: int = 256, progress: bool = True, device: str = "cpu", sae=None) -> AblationResult:
    """Ablate (zero/mean) or clamp `unit` and compare the loss change with `random_units` random units.

    text: a file, folder, bundled corpus name or split name (val, test), or a Corpus (text held in
    memory: `Corpus([Document("window", string)])`). device: where the passes run ("cuda" if there is one).
    A latent unit (kind sae-NAME) is set through its autoencoder's decoder direction, against random
    active latents (charnn.sae.causal); sae: its folder, when it is not RUN/recordings/*/sae/NAME.
    """
    from .search.targets import regex_target  # the search package's time-limited matching
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


def summarize(unit, mode, string, selected, base, delta, randoms, random_deltas) -> AblationResult:
    valid = ~np.isnan(delta)
    sel, other = selected & valid, ~selected & valid
    random_median = float(np.median(np.abs(random_deltas))) if random_deltas else float("nan")
    d_sel = float(delta[sel].mean()) if sel.any() else float("nan")
    order = np.argsort(np.where(valid, -delta, np.inf))[:5]
    return AblationResult(
        unit=unit, mode=mode, n_chars=len(string), n_selected=int(sel.sum()),
        base_bpc_selected=float(base[sel].mean()) if sel.any() else float("nan"),
        base_bpc_other=float(base[other].mean()) if other.any() else float("nan"),
        delta_selected=d_sel, delta_other=float(delta[other].mean()) if other.any() else float("nan"),
        random_delta_selected=random_deltas, random_units=randoms, random_median_selected=random_median,
        effect_ratio=d_sel / max(random_median, 1e-9),
        top_positions=[(int(p), float(delta[p]), string[max(0, p - 30) : p + 10]) for p in order],
        per_char_delta=delta,
    )


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
