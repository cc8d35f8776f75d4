"""Ablate or clamp one unit over the dashboard's text window: the per-character loss change and a
sample generated with the unit held, through charnn.causal (the same API as `charnn ablate` and
`charnn sample --clamp`).

    result = run_intervention(data, view, Request("clamp", "1.5"), job)   # the payload the panel paints

The window is scored with the BURN_IN characters before it, so its first characters are read
with context. The loss change is measured against RANDOM_UNITS random units of the same layer
and kind (few, so that a run takes seconds). Modes are charnn.causal.Mode's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from charnn import colors
from charnn.causal import Mode, ablate, clamp_step_fn
from charnn.corpus import Corpus, Document
from charnn.sample import generate
from charnn.search import regex_target
from charnn.units import Unit

from .state import unit_label, window_bounds
from .unitstats import mask_runs
from .views.textpanel import window_payload

MODES = ("zero", "mean", "clamp")
BURN_IN = 256  # characters scored before the window
RANDOM_UNITS = 5
PRIME_CHARS = 40  # default prime: the window's first characters
SAMPLE_CHARS = 300
TEMPERATURE = 0.8
DELTA_QUANTILE = 0.99  # the color scale's full red / blue: this quantile of |loss change|


@dataclass
class Request:
    mode: str  # zero | mean | clamp
    value: str | None = None  # the clamp value as typed
    inside: str | None = None  # apply the intervention only inside this regex's matches
    where: str | None = None  # measure the loss change on this regex's matches (and on the others)
    prime: str | None = None  # default: the window's first PRIME_CHARS characters
    seed: int = 0


def scored_span(start: int, stop: int, burn_in: int = BURN_IN) -> tuple[int, int]:
    """[a, stop) of the text that is scored: the window and up to burn_in characters before it."""
    return max(0, start - burn_in), stop


def delta_colors(delta) -> tuple[list[str], float]:
    """Loss change per character (bits, NaN where unknown) -> colors, red where the loss went up.

    The scale is symmetric: DELTA_QUANTILE of |delta| is the full color; returns (colors, scale)."""
    d = np.nan_to_num(np.asarray(delta, np.float64))  # (n,)
    scale = float(np.quantile(np.abs(d), DELTA_QUANTILE)) if d.size else 0.0
    scale = scale if scale > 0 else max(float(np.abs(d).max(initial=0.0)), 1e-9)
    return colors.diverging(d / scale), scale


def rounded(values, digits: int = 4) -> list:
    """Floats for JSON: rounded, None where NaN."""
    return [None if not np.isfinite(v) else round(float(v), digits) for v in np.asarray(values, np.float64)]


def samples(run, clamp: tuple[Unit, float], prime: str, seed: int) -> tuple[str, str]:
    """(unclamped, clamped) continuations of prime, same seed, both through the recording path."""
    def sample(clamps):
        return generate(run.model, run.vocab, prime, SAMPLE_CHARS, TEMPERATURE, None, seed, clamp_step_fn(run, clamps))
    return sample([]), sample([clamp])


def score_window(run, text: str, unit: Unit, mode: Mode, req: Request):
    """charnn.causal.ablate on `text`, held in memory as a one-document corpus."""
    result = ablate(run, Corpus([Document("window", text)], source="dashboard window"), unit, mode=mode,
                    where=req.where, apply_inside=req.inside, random_units=RANDOM_UNITS, progress=False)
    if result.n_chars != len(text):
        raise ValueError(f"the scored text has {result.n_chars:,} characters, the window {len(text):,}: "
                         "the recording's text does not read back as written")
    return result


def run_intervention(data, view: dict, req: Request, job) -> dict:
    """Ablate or clamp the view's unit over its window; the payload the intervention panel shows."""
    run_name, rec, layer, kind, unit = (view[k] for k in ("run", "rec", "layer", "kind", "unit"))
    mode = Mode.of(req.mode, req.value)
    unit_id = Unit(layer, kind, unit)
    start, stop = window_bounds(view, data.info(run_name, rec)["n_chars"])
    a, _ = scored_span(start, stop)
    text = data.text(run_name, rec)[a:stop]
    run = data.run(run_name)
    job.report(0.05, f"scoring {len(text):,} characters: the unit and {RANDOM_UNITS} random units")
    result = score_window(run, text, unit_id, mode, req)
    delta = result.per_char_delta[start - a:]  # (stop - start,) the window's part
    fills, scale = delta_colors(delta)
    under = mask_runs(regex_target(text, req.where)[start - a:] > 0.5) if req.where else []
    job.report(0.85, "sampling with the unit held and without")
    value = mode.held_value(data.unit_column(run_name, rec, layer, kind, unit).mean())
    prime = req.prime or text[start - a:start - a + PRIME_CHARS]
    plain, held = samples(run, (unit_id, value), prime, req.seed)
    win = window_payload(data, view)
    return {
        "win": win, "paint": {"key": win["key"], "unit": "loss change (bits)", "kind": "delta", "colors": fills,
                              "values": rounded(delta), "under": under, "focus": None, "scale": round(scale, 4)},
        "summary": summary(result, unit_label(view), a, stop, req), "window_delta": float(np.nanmean(delta)),
        "prime": prime, "value": value, "seed": req.seed, "plain": plain, "held": held,
    }


def summary(result, label: str, a: int, stop: int, req: Request) -> dict:
    """The AblationResult's figures, JSON-safe, with what they were measured on."""
    return {
        "unit": label, "mode": result.mode, "start": a, "stop": stop, "n_selected": result.n_selected,
        "where": req.where, "inside": req.inside, "random_units": [int(u) for u in result.random_units],
        **{k: None if not np.isfinite(v) else float(v) for k, v in (
            ("base_selected", result.base_bpc_selected), ("base_other", result.base_bpc_other),
            ("delta_selected", result.delta_selected), ("delta_other", result.delta_other),
            ("random_median", result.random_median_selected), ("effect_ratio", result.effect_ratio))},
    }


def summary_lines(s: dict, window_delta: float) -> list[str]:
    """The summary as sentences: what was done, the change on the window, the ratio to random units."""
    held = {"zero": "held at 0", "mean": "held at its mean"}.get(s["mode"], f"clamped to {s['mode'].split('=', 1)[-1]}")
    inside = f" only inside matches of {s['inside']!r}" if s["inside"] else ""
    lines = [f"{s['unit']} {held}{inside}: the loss on the window changed by {fmt(window_delta)} bits/char"]
    scored = f"chars {s['start']:,}–{s['stop']:,} (the window and up to {BURN_IN} characters before it)"
    if s["where"]:
        lines.append(f"on the {s['n_selected']:,} characters of {scored} that {s['where']!r} matches: "
                     f"{fmt(s['delta_selected'])} bits (base {fmt(s['base_selected'], False)}); "
                     f"on the others {fmt(s['delta_other'])} (base {fmt(s['base_other'], False)})")
    else:
        lines.append(f"on {scored}: {fmt(s['delta_selected'])} bits/char (base {fmt(s['base_selected'], False)})")
    units = ", ".join(map(str, s["random_units"]))
    lines.append(f"random units of the same layer and kind ({units}): median |change| {fmt(s['random_median'], False)} bits; "
                 f"effect ratio {fmt(s['effect_ratio'], False, 1)}×")
    return lines


def fmt(x, signed: bool = True, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
