"""The view as a URL query string, so a view can be shared.

    parse_query("?run=austen&rec=val&layer=1&kind=c&unit=37&pos=12000&regex=%22")
    # {'run': 'austen', 'rec': 'val', 'layer': 1, 'kind': 'c', 'unit': 37, 'pos': 12000, 'regex': '"'}
    build_query({...})  # the inverse, fields in a fixed order, empty ones left out

Values are only parsed here; whether the run exists and the unit is in range is checked by
`state.resolve` against what is on disk.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

FIELDS = {  # name -> type, in URL order
    "run": str, "rec": str, "layer": int, "kind": str, "unit": int, "pos": int, "focus": int, "win": int,
    "regex": str, "concept": str, "explanation": str, "target": str, "scale": str, "tab": str,
}
MAX_LEN = 2000  # longest value kept (a regex, an explanation); longer ones are dropped


def parse_query(search: str | None) -> dict:
    """'?a=1&b=x' -> typed dict of the known fields; unknown, malformed or too long values are dropped."""
    out = {}
    for key, values in parse_qs((search or "").lstrip("?"), keep_blank_values=False).items():
        if key not in FIELDS or not values or len(values[-1]) > MAX_LEN:
            continue
        value = values[-1]
        if FIELDS[key] is int:
            try:
                value = int(value)
            except ValueError:
                continue
            if value < 0:
                continue
        out[key] = value
    return out


def build_query(view: dict) -> str:
    """Typed dict -> '?run=...&unit=...' with the known, non-empty fields in FIELDS order."""
    pairs = [(k, str(view[k])) for k in FIELDS if view.get(k) not in (None, "")]
    return "?" + urlencode(pairs) if pairs else ""
