"""The colored text: payloads built on the server, painted in the browser by assets/charnn.js.

Two small stores drive a panel: `win` (the window's characters, loss and predictions; changes
when paging) and `paint` (one color and value per character for the chosen unit, the matches
to underline; changes when switching unit). The browser joins them into one HTML string of
spans and sets it at once, which repaints a 3,000-character window in a few milliseconds;
hovering a character shows its position, value, loss and the model's top predictions.
"""

from __future__ import annotations

import numpy as np
from dash import html

from charnn import colors

from ..state import query, unit_label, window_bounds
from ..unitstats import mask_runs


def text_panel(panel_id: str, legend: list | None = None) -> html.Div:
    """An empty container that charnn.js fills; `panel_id`-status says what it shows."""
    return html.Div(className="text-panel", children=[
        html.Div(className="text-head", children=[
            html.Span(id=f"{panel_id}-status", className="status"), html.Span(legend or [], className="legend")]),
        html.Div(id=panel_id, className="text"),
    ])


def legend(left: str, right: str, cmap: str) -> list:
    return [html.Span(left), html.Span(className=f"bar {cmap}"), html.Span(right)]


def window_key(view: dict) -> str:
    return f"{view['run']}/{view['rec']}/{view['pos']}/{view['win']}"


def window_payload(data, view: dict) -> dict:
    """Characters, loss and predictions of the view's window, for the browser."""
    n = data.info(view["run"], view["rec"])["n_chars"]
    start, stop = window_bounds(view, n)
    t = data.text_window(view["run"], view["rec"], start, stop)
    loss = t["loss_bits"].to_numpy(np.float32)
    top_p = np.stack(t["next_top_p"].to_numpy()) if len(t) else np.zeros((0, 1), np.float32)  # (n, k)
    return {
        "key": window_key(view), "start": start, "stop": stop, "n": n,
        "chars": t["char"].tolist(), "loss": np.round(loss, 2).tolist(),
        "top": t["next_top"].tolist(), "top_p": np.round(top_p, 3).tolist(),
        "loss_colors": colors.loss_colors(loss),
    }


def paint_payload(data, view: dict) -> dict:
    """Colors and values of the view's unit over its window, and the query's matches."""
    run, rec, layer, kind, unit = (view[k] for k in ("run", "rec", "layer", "kind", "unit"))
    n = data.info(run, rec)["n_chars"]
    start, stop = window_bounds(view, n)
    values = data.unit_window(run, rec, layer, kind, unit, start, stop)
    lo, hi = data.unit_range(run, rec, layer, kind, unit)
    norm = colors.normalize(values, kind, view["scale"], lo, hi)
    paint = {"key": window_key(view), "unit": unit_label(view), "kind": kind, "colors": colors.diverging(norm),
             "values": np.round(values.astype(np.float64), 4).tolist(), "under": [], "error": "",
             "focus": view["focus"] - start if view.get("focus") is not None and start <= view["focus"] < stop else None}
    try:
        target = data.target(run, rec, query(view))
    except ValueError as err:
        paint["error"] = str(err)
        target = None
    if target is not None and is_binary(target):
        paint["under"] = mask_runs(target[start:stop] > 0.5)
    return paint


def is_binary(target: np.ndarray) -> bool:
    return bool(np.all((target == 0) | (target == 1)))
