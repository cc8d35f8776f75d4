"""The navigation bar shared by every view: run, recording, layer, kind and unit pickers, the
text position, and the one callback that turns what the user did into the `view` store and the URL.

Other views ask for a change by writing a partial view into the `open` store (for example
{"layer": 1, "kind": "c", "unit": 37} when a search result is clicked); this module merges it.
A `focus` without a `pos` opens the page that shows STRONG_CONTEXT characters before it.
Keys (assets/charnn.js): j / k next and previous unit, n / p next and previous page, s next strong.
"""

from __future__ import annotations

from dash import Input, Output, State, ctx, dcc, html, no_update

from charnn import colors

from .. import unitstats
from ..state import KIND_LABELS, WINDOWS, missing, resolve
from ..urlstate import build_query, parse_query

STRONG_CONTEXT = 300  # characters shown before a position that is jumped to


def layout() -> html.Div:
    def labelled(label, component):
        return html.Label([html.Span(label, className="lbl"), component], className="field")

    return html.Div(className="navbar", children=[
        labelled("run", dcc.Dropdown(id="run", clearable=False, style={"width": "9rem"})),
        labelled("recording", dcc.Dropdown(id="rec", clearable=False, style={"width": "9.5rem"})),
        labelled("layer", dcc.Dropdown(id="layer", clearable=False, style={"width": "4.5rem"})),
        labelled("kind", dcc.Dropdown(id="kind", clearable=False, style={"width": "8.5rem"})),
        labelled("unit", html.Div(className="unit-box", children=[
            html.Button("◀", id="unit-prev", title="previous unit (k)", className="btn small"),
            dcc.Input(id="unit", type="number", min=0, step=1, debounce=True, style={"width": "4.5rem"}),
            html.Button("▶", id="unit-next", title="next unit (j)", className="btn small"),
        ])),
        labelled("cell scale", dcc.RadioItems(id="scale", options=[{"label": "tanh(c)", "value": "tanh"},
                                                                   {"label": "raw", "value": "raw"}],
                                              value="tanh", inline=True)),
        html.Div(className="spacer"),
        labelled("position", html.Div(className="unit-box", children=[
            html.Button("◀ page", id="page-prev", title="previous page (p)", className="btn small"),
            dcc.Input(id="jump-pos", type="number", min=0, step=1, placeholder="pos", style={"width": "6.5rem"}),
            html.Button("go", id="jump-go", className="btn small"),
            html.Button("page ▶", id="page-next", title="next page (n)", className="btn small"),
            html.Button("next strong ⇥", id="strong-next", title="next strong activation (s)", className="btn small"),
            dcc.Dropdown(id="win-size", options=[{"label": f"{w:,} chars", "value": w} for w in WINDOWS],
                         clearable=False, style={"width": "7.5rem"}),
        ])),
    ])


def apply_trigger(trigger, view: dict, values: dict, data) -> dict:
    """The view after the input `trigger` changed; values holds every input's current value."""
    v = dict(view)
    if trigger in ("run", "rec", "layer", "kind", "unit", "scale"):
        v[trigger] = values[trigger]
        if trigger in ("run", "rec"):
            v.update(pos=0, focus=None)
    elif trigger == "win-size":
        v["win"] = values["win-size"]
    elif trigger == "tabs":
        v["tab"] = values["tabs"]
    elif trigger in ("unit-prev", "unit-next"):
        v["unit"] = (v.get("unit") or 0) + (1 if trigger == "unit-next" else -1)  # resolve wraps it
    elif trigger in ("page-prev", "page-next"):
        v["pos"] = max(0, v.get("pos", 0) + (v["win"] if trigger == "page-next" else -v["win"]))
        v["focus"] = None
    elif trigger in ("jump-go", "jump-pos") and values["jump-pos"] is not None:
        v.update(focus=int(values["jump-pos"]), pos=max(0, int(values["jump-pos"]) - STRONG_CONTEXT))
    elif trigger == "strong-next" and v.get("rec"):
        found = next_strong(data, v)
        if found is not None:
            v.update(focus=found, pos=max(0, found - STRONG_CONTEXT))
    elif trigger == "open" and isinstance(values["open"], dict):
        v.update(values["open"])
        if values["open"].get("focus") is not None and "pos" not in values["open"]:
            v["pos"] = max(0, int(values["open"]["focus"]) - STRONG_CONTEXT)
    return v


def next_strong(data, v: dict) -> int | None:
    column = data.unit_column(v["run"], v["rec"], v["layer"], v["kind"], v["unit"])
    lo, hi = data.unit_range(v["run"], v["rec"], v["layer"], v["kind"], v["unit"])
    norm = colors.normalize(column, v["kind"], v["scale"], lo, hi)
    after = v["focus"] if v.get("focus") is not None else v["pos"] - 1
    return unitstats.next_strong(norm, after, unitstats.strong_threshold(norm))


VALUES = ["run", "rec", "layer", "kind", "unit", "scale", "win-size", "tabs"]  # inputs read by `value`
CLICKS = ["unit-prev", "unit-next", "page-prev", "page-next", "jump-go", "strong-next"]
PICKERS = {  # output name -> (component id, property)
    "run_options": ("run", "options"), "run": ("run", "value"), "rec_options": ("rec", "options"),
    "rec": ("rec", "value"), "layer_options": ("layer", "options"), "layer": ("layer", "value"),
    "kind_options": ("kind", "options"), "kind": ("kind", "value"), "unit": ("unit", "value"),
    "unit_max": ("unit", "max"), "scale": ("scale", "value"), "win": ("win-size", "value"), "tab": ("tabs", "value"),
}
PICKER_INPUTS = {"win": "win-size", "tab": "tabs"}  # picker output name -> its input's name, where they differ


def register(app, data) -> None:
    @app.callback(
        output={"view": Output("view", "data"), "search": Output("url", "search"),
                "error": Output("nav-error", "children"),
                **{name: Output(cid, prop) for name, (cid, prop) in PICKERS.items()}},
        inputs={"search": Input("url", "search"), "values": {v: Input(v, "value") for v in VALUES},
                "clicks": [Input(c, "n_clicks") for c in CLICKS], "submit": Input("jump-pos", "n_submit"),
                "opened": Input("open", "data"), "jump": State("jump-pos", "value"), "view": State("view", "data")},
    )
    def sync(search, values, clicks, submit, opened, jump, view):
        trigger, error, previous = ctx.triggered_id, "", view
        if trigger is None or view is None:  # page load: the URL says what to show
            view = parse_query(search)
        else:
            try:
                view = apply_trigger(trigger, view, {**values, "open": opened, "jump-pos": jump}, data)
            except (ValueError, OSError) as err:
                error = str(err)
        try:
            view = resolve(view, data)
        except (ValueError, OSError) as err:  # a damaged recording: its run stays, the others can be picked
            view, error = resolve(view, data, open_recording=False), str(err)
        error = error or missing(view, data.root)
        same = {key: bool(previous) and all(previous.get(k) == view[k] for k in keys)
                for key, keys in (("rec", ("run", "rec")), ("units", ("run", "rec", "layer", "kind")))}
        pickers = {k: no_update if unchanged(k, v, values, same) else v for k, v in picker_values(view, data).items()}
        return {"view": view, "search": build_query(view), "error": error, **pickers}


def unchanged(name: str, value, values: dict, same: dict) -> bool:
    """Whether a picker already shows `value`: then it is not sent, which saves a re-render.
    same["rec"]: the recording did not change (so neither did the options); same["units"]:
    nor did the layer and kind (so neither did the number of units)."""
    if name == "unit_max":
        return same["units"]
    if name.endswith("_options"):
        return same["rec"]
    return values.get(PICKER_INPUTS.get(name, name)) == value


def picker_values(v: dict, data) -> dict:
    """What each picker shows (options and value) for a resolved view."""
    out = {"run_options": data.runs(), "run": v["run"], "rec_options": data.recordings(v["run"]) if v["run"] else [],
           "rec": v["rec"], "layer_options": [], "layer": None, "kind_options": [], "kind": None, "unit": None,
           "unit_max": 0, "scale": v["scale"], "win": v["win"], "tab": v["tab"]}
    if v["rec"] is not None:
        info = data.info(v["run"], v["rec"])
        out.update(layer_options=list(range(info["layers"])), layer=v["layer"],
                   kind_options=[{"label": KIND_LABELS.get(k, k), "value": k} for k in info["kinds"]], kind=v["kind"],
                   unit=v["unit"], unit_max=data.width(v["run"], v["rec"], v["layer"], v["kind"]) - 1)
    return out
