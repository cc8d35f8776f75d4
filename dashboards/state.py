"""The view: which unit of which recording the dashboard shows, as a plain dict kept in the
browser (`dcc.Store(id="view")`) and mirrored in the URL.

    {"run": "austen", "rec": "val", "layer": 1, "kind": "c", "unit": 37, "pos": 12000,
     "focus": 12345, "win": 3000, "scale": "tanh", "regex": '"[^"]*"', "target": "inside",
     "concept": None, "explanation": None, "tab": "neuron"}

`resolve` makes any such dict valid against what is on disk (unknown run -> the first run,
unit out of range -> wrapped, window -> one of WINDOWS, ...), so a hand-edited URL cannot break
the app. The store is the browser's, so a crafted request can send any dict: every callback that
reads the view resolves it again on the server (`served`) before it sizes any work by it.
"""

from __future__ import annotations

import re

from dash.exceptions import PreventUpdate

from charnn.colors import SCALES
from charnn.search import CONCEPTS
from charnn.text import query_fields
from charnn.units import Unit

from .urlstate import MAX_LEN

WINDOWS = (1000, 2000, 3000, 5000)  # characters per text window
DEFAULT_WINDOW = 3000
TABS = ("neuron", "details", "explain", "heatmap", "model", "intervene", "history")
TARGETS = ("inside", "start", "end")  # and group:N, a regex's capture group
GROUP = re.compile(r"^group:[0-9]{1,3}$")
KIND_LABELS = {"c": "c  cell", "h": "h  hidden", "i": "i  input gate", "f": "f  forget gate",
               "g": "g  candidate", "o": "o  output gate", "r": "r  reset gate", "z": "z  update gate",
               "n": "n  candidate"}


def default_kind(kinds: list[str]) -> str:
    return "c" if "c" in kinds else ("h" if "h" in kinds else kinds[0])


def _int(value, default: int) -> int:
    """int(value), or `default` for anything that is not a finite number (JSON Infinity and NaN included)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def resolve(view: dict, catalog, open_recording: bool = True) -> dict:
    """A valid view from a partial or stale one. catalog: runs(), recordings(run), info(run, rec),
    width(run, rec, layer, kind). With open_recording False (one failed to open), the view shows
    the run and no recording."""
    v = dict(view or {})
    v["tab"] = v.get("tab") if v.get("tab") in TABS else TABS[0]
    v["win"] = _int(v.get("win"), DEFAULT_WINDOW) if _int(v.get("win"), 0) in WINDOWS else DEFAULT_WINDOW
    v["scale"] = v.get("scale") if v.get("scale") in SCALES else SCALES[0]
    target = v.get("target")
    v["target"] = target if target in TARGETS or (isinstance(target, str) and GROUP.match(target)) else TARGETS[0]
    regex = v.get("regex")
    v["regex"] = regex if isinstance(regex, str) and 0 < len(regex) <= MAX_LEN else None
    concept = v.get("concept")
    v["concept"] = concept if isinstance(concept, str) and concept in CONCEPTS else None
    explanation = v.get("explanation")
    v["explanation"] = explanation if isinstance(explanation, str) and 0 < len(explanation) <= MAX_LEN else None
    runs = catalog.runs()
    v["run"] = v.get("run") if v.get("run") in runs else (runs[0] if runs else None)
    recs = catalog.recordings(v["run"]) if v["run"] and open_recording else []
    v["rec"] = v.get("rec") if v.get("rec") in recs else (recs[0] if recs else None)
    if v["rec"] is None:
        return {**v, "layer": None, "kind": None, "unit": None, "pos": 0, "focus": None}
    info = catalog.info(v["run"], v["rec"])
    layer = _int(v.get("layer"), info["layers"] - 1)
    v["layer"] = layer if 0 <= layer < info["layers"] else info["layers"] - 1
    v["kind"] = v.get("kind") if v.get("kind") in info["kinds"] else default_kind(info["kinds"])
    layers = info.get("kind_layers", {}).get(v["kind"]) or [v["layer"]]  # an added kind (latents) is in its own layer
    v["layer"] = v["layer"] if v["layer"] in layers else layers[-1]
    v["unit"] = _int(v.get("unit"), 0) % catalog.width(v["run"], v["rec"], v["layer"], v["kind"])
    last = max(0, info["n_chars"] - 1)
    v["pos"] = min(max(0, _int(v.get("pos"), 0)), max(0, info["n_chars"] - v["win"]))  # the last page is full
    focus = v.get("focus")
    v["focus"] = min(max(0, _int(focus, 0)), last) if focus is not None else None
    return v


def missing(view: dict, root) -> str:
    """What a resolved view lacks and how to make it: no run, or a run with no recording."""
    if view["run"] is None:
        return f"no runs in {root}: train one with `charnn train austen --out {root}/austen`"
    if view["rec"] is None:
        return f"{view['run']} has no recordings: record one with `charnn record {root}/{view['run']} val`"
    return ""


def served(view: dict | None, catalog, tab: str | None = None) -> dict:
    """The view a callback was sent, resolved on the server; PreventUpdate when it shows no
    recording (or another tab than `tab`), so the callback leaves its outputs as they are."""
    if not view or (tab is not None and view.get("tab") != tab):
        raise PreventUpdate
    v = resolve(view, catalog)
    if v["rec"] is None:
        raise PreventUpdate
    return v


def window_bounds(view: dict, n_chars: int) -> tuple[int, int]:
    """[start, stop) of the text window the view shows, never more than the largest window."""
    start = min(max(0, view["pos"]), max(0, n_chars - 1))
    return start, min(n_chars, start + min(view["win"], max(WINDOWS)))


def query(view: dict) -> dict | None:
    """The view's concept, explanation or regex query (charnn.text.make_target's keywords), or None."""
    return query_fields(view)


def query_label(q: dict) -> str:
    """How a query names itself: its regex, concept or explanation, quoted."""
    return repr(q.get("regex") or q.get("concept") or q.get("explanation"))


def view_unit(view: dict) -> Unit:
    return Unit(view["layer"], view["kind"], view["unit"])


def opening(unit: Unit, **fields) -> dict:
    """The partial view (for the `open` store) that shows `unit` in the neuron view, and `fields`."""
    return {"layer": unit.layer, "kind": unit.kind, "unit": unit.index, "tab": "neuron", **fields}


def unit_label(view: dict) -> str:
    """'unit 1:c:37', the name every command takes (`charnn ablate RUN TEXT --unit 1:c:37`)."""
    return f"unit {view_unit(view)}"
