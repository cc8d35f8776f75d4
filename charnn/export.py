"""Static figures: the text colored by chosen units, one panel per unit, as a self-contained HTML
file or a PNG.

    charnn export runs/austen/recordings/val --unit 0:c:155 --unit 1:h:12 --out quote.html
    charnn export runs/austen/recordings/val --concept inside_quotes --top 3 --out quotes.png

    from charnn.export import export
    export("runs/austen/recordings/val", [(0, "c", 155)], "quote.html", start=0, chars=2000)

Each character gets the color the dashboard's text panel gives it: charnn.colors over the same
values, with a cell's "raw" scale taken from the unit's range over the whole recording. Newlines
are kept (shown as ↵, as in the dashboard) and each character's title gives its position and
value. The HTML has no scripts and loads nothing. A PNG is that HTML as rendered by a headless
Chromium (`apt-get install chromium`): one run measures the page, a second one screenshots it at
twice the pixel density.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from . import colors
from .chromium import BROWSERS, SYSTEM_BIN, chromium
from .fsio import atomic_path
from .units import Unit

MAX_CHARS = 20_000  # characters per panel; more makes a page too heavy to open comfortably
COLUMNS = 100  # characters per line before the text wraps (at any character, as in the dashboard)
SHOWN = {"\n": "\u21b5\n", "\t": "\u21e5\t"}  # what a newline and a tab look like (dashboards/assets/charnn.js)
NAMED = {"\n": "\\n", "\t": "\\t", " ": "␣"}  # how a character is named in its title
PNG_SCALE = 2  # device pixels per CSS pixel in a PNG
BROWSER_SECONDS = 120  # one headless Chromium run, at most



class ExportError(ValueError):
    """A figure that cannot be made as asked: bad window, unknown format, no browser for a PNG."""


@dataclass
class Panel:
    """One unit over one window of text, colored."""

    unit: Unit
    start: int  # position of the first character
    chars: str  # the window's text
    values: np.ndarray  # (n,) float32 activations
    colors: list[str]  # (n,) "#rrggbb" from charnn.colors
    scale: str  # how a cell state is mapped to [-1, 1] (charnn.colors.SCALES)
    legend: tuple[str, str]  # what the blue and the red end of the color bar mean
    note: str = ""  # e.g. the concept and score that picked the unit

    @property
    def title(self) -> str:
        u = self.unit
        return f"layer {u.layer}, unit {u.index}, {u.kind}" + (f": {self.scale}" if u.kind == "c" else "")


# ------------------------------------------------------------------ checks
def output_format(out: str | Path) -> str:
    """'html' or 'png', from the file name."""
    suffix = Path(out).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix == ".png":
        return "png"
    raise ExportError(f"cannot tell the format of {str(out)!r}: name the output FILE.html or FILE.png")


def find_browser() -> str:
    """Path of a Chromium that can run headless (charnn.chromium), else an ExportError saying what to do."""
    path = chromium()
    if path is None:
        raise ExportError(f"a PNG needs a headless Chromium and none of {', '.join(BROWSERS)} is on PATH or in "
                          f"{SYSTEM_BIN}: write FILE.html instead, or install one (apt-get install chromium)")
    return path


def window(rec, start: int, chars: int) -> tuple[int, int]:
    """[start, stop) of `chars` characters from `start`; stop is cut at the end of the recording."""
    if not 1 <= chars <= MAX_CHARS:
        raise ExportError(f"a window of {chars} characters: give 1 to {MAX_CHARS:,} characters per panel")
    if not 0 <= start < rec.n_chars:
        raise ExportError(f"start {start} is outside the recording: its {rec.n_chars:,} characters are at "
                          f"positions 0..{rec.n_chars - 1}")
    return start, min(rec.n_chars, start + chars)


def check(rec, units: list[Unit], out: str | Path, start: int, chars: int, scale: str) -> tuple[int, int]:
    """Everything `export` will ask, before any slow work: returns the window [start, stop)."""
    if scale not in colors.SCALES:
        raise ExportError(f"scale must be one of {', '.join(colors.SCALES)}, not {scale!r}")
    if output_format(out) == "png":
        find_browser()
    for unit in map(Unit.parse, units):
        rec.check(unit.layer, unit.kind, [unit.index])
    return window(rec, start, chars)


# ------------------------------------------------------------------ panels
def legend_ends(kind: str, scale: str, lo: float, hi: float) -> tuple[str, str]:
    """Labels of the color bar's ends in the unit's own values (see charnn.colors.normalize)."""
    if kind == "c" and scale == "raw":
        peak = max(abs(lo), abs(hi))
        return f"c = −{peak:.3g}", f"+{peak:.3g}"
    if kind == "c":
        return "tanh(c) = −1", "+1"
    if kind in colors.SIGMOID_KINDS:
        return f"{kind} = 0", "1"
    return f"{kind} = −1", "+1"


def make_panel(rec, unit: Unit, start: int, stop: int, scale: str = "tanh", note: str = "") -> Panel:
    layer, kind, index = unit.layer, unit.kind, unit.index
    values = rec.activations(layer, kind, [index], start, stop)[:, 0]  # (n,)
    lo, hi = rec.unit_range(layer, kind)  # (H,) over the whole recording, as the dashboard uses
    norm = colors.normalize(values, kind, scale, lo[index], hi[index])
    return Panel(unit, start, rec.string[start:stop], values, colors.diverging(norm), scale,
                 legend_ends(kind, scale, float(lo[index]), float(hi[index])), note)


def char_title(panel: Panel, i: int) -> str:
    ch, value = panel.chars[i], float(panel.values[i])
    title = f"pos {panel.start + i} '{NAMED.get(ch, ch)}' = {value:.4f}"
    return title + (f" (tanh {np.tanh(value):.3f})" if panel.unit.kind == "c" else "")


def attribute(text: str) -> str:
    """Text for a double-quoted attribute (html.escape would also spell every ' as &#x27;)."""
    return escape(text, quote=False).replace('"', "&quot;")


def panel_html(panel: Panel) -> str:
    spans = "".join(f'<span style="background:{color}" title="{attribute(char_title(panel, i))}">'
                    f"{escape(SHOWN.get(ch, ch), quote=False)}</span>"
                    for i, (ch, color) in enumerate(zip(panel.chars, panel.colors)))
    left, right = panel.legend
    note = f' <span class="note">{escape(panel.note)}</span>' if panel.note else ""
    return (f'<section class="panel">\n<div class="head"><span><b>{escape(panel.title)}</b>{note}</span>'
            f'<span class="legend"><span>{escape(left)}</span><span class="bar"></span><span>{escape(right)}</span>'
            f'</span></div>\n<div class="text">{spans}</div>\n</section>')


def page_css() -> str:
    blue, white, red = colors.to_hex(np.stack([colors.BLUE, colors.WHITE, colors.RED]))
    return f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fff;
       margin: 16px; width: fit-content; }}
.caption {{ color: #555; font-size: 12px; margin-bottom: 8px; }}
.panel {{ border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin-bottom: 12px; }}
.head {{ display: flex; justify-content: space-between; gap: 24px; font-size: 13px; margin-bottom: 6px; }}
.note {{ color: #555; margin-left: 8px; }}
.legend {{ display: flex; gap: 6px; align-items: center; font-size: 12px; color: #555; white-space: nowrap; }}
.legend .bar {{ display: inline-block; width: 120px; height: 10px; border: 1px solid #ccc;
               background: linear-gradient(to right, {blue}, {white}, {red}); }}
.text {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; line-height: 1.55;
        white-space: pre-wrap; word-break: break-all; width: {COLUMNS}ch; }}
"""


def render_html(panels: list[Panel], caption: str) -> str:
    """A self-contained page: the caption, then one panel per unit."""
    body = "\n".join(panel_html(p) for p in panels)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(caption)}</title>\n'
            f'<style>{page_css()}</style>\n</head>\n<body>\n<div class="caption">{escape(caption)}</div>\n'
            f"{body}\n</body>\n</html>\n")


# ------------------------------------------------------------------ PNG
MEASURE = ('<script>const r = document.body.getBoundingClientRect();'
           'document.body.dataset.size = Math.ceil(r.right + r.left) + "x" + Math.ceil(r.bottom + r.top);</script>')


def run_browser(browser: str, profile: Path, args: list[str]) -> str:
    # --no-sandbox: Chromium refuses to start as root without it; the page is our own, with no scripts
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--user-data-dir={profile}", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_SECONDS)
    except subprocess.TimeoutExpired:
        raise ExportError(f"{browser} took more than {BROWSER_SECONDS} s: write FILE.html instead") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-3:])
        raise ExportError(f"{browser} failed (exit {done.returncode}): {tail}")
    return done.stdout


def screenshot(page: str, png: Path, browser: str) -> None:
    """Render `page` in a headless Chromium and save all of it as `png`."""
    with tempfile.TemporaryDirectory(prefix="charnn-export-") as tmp:
        tmp = Path(tmp)
        measure = tmp / "measure.html"
        measure.write_text(page.replace("</body>", MEASURE + "\n</body>"), encoding="utf-8")
        dom = run_browser(browser, tmp / "profile", ["--window-size=2400,1000", "--dump-dom", measure.as_uri()])
        size = re.search(r'data-size="(\d+)x(\d+)"', dom)
        if not size:
            raise ExportError(f"{browser} did not lay out the page: write FILE.html instead")
        page_file, shot = tmp / "page.html", tmp / "page.png"  # Chromium picks the format by the suffix
        page_file.write_text(page, encoding="utf-8")
        run_browser(browser, tmp / "profile", [f"--window-size={size[1]},{size[2]}",
                                               f"--force-device-scale-factor={PNG_SCALE}",
                                               f"--screenshot={shot}", page_file.as_uri()])
        if not shot.is_file() or shot.stat().st_size == 0:
            raise ExportError(f"{browser} wrote no screenshot: write FILE.html instead")
        shutil.copyfile(shot, png)


# ------------------------------------------------------------------ the figure
def top_units(rec, concept: str | None = None, regex: str | None = None, top: int = 3, kinds=None,
              progress=True) -> tuple[list[Unit], dict[Unit, str]]:
    """The `top` best units for a concept or a regex (charnn.search.search), and a note for each."""
    from .search.engine import score_text, search  # the search engine is only needed here
    if top < 1:
        raise ExportError(f"top must be at least 1, not {top}")
    df = search(rec, regex=regex, concept=concept, kinds=kinds, top=top, progress=progress)
    chance = df.attrs["baseline"]
    units, notes = [], {}
    for rank, row in enumerate(df.itertuples(index=False), 1):
        unit = Unit(int(row.layer), row.kind, int(row.unit))
        score = score_text(df.attrs["binary"], row.auroc, row.r, chance["auroc_p99"], chance["r_p99"])
        units.append(unit)
        notes[unit] = f"#{rank} for {df.attrs['query']}: {score}"
    return units, notes


def export(recording, units: list[Unit | str], out: str | Path, start: int = 0, chars: int = 2000, scale: str = "tanh",
           notes: dict[Unit, str] | None = None) -> Path:
    """Write one panel per unit (a Unit, 'L:K:U' or a (layer, kind, unit) triple) over
    [start, start + chars) to out (.html, or .png with Chromium)."""
    from .recording import open_recording
    rec = open_recording(recording) if isinstance(recording, (str, Path)) else recording
    units = [Unit.parse(u) for u in units]
    if not units:
        raise ExportError("no units to export: give at least one LAYER:KIND:UNIT")
    start, stop = check(rec, units, out, start, chars, scale)
    notes = notes or {}
    panels = [make_panel(rec, unit, start, stop, scale, notes.get(unit, "")) for unit in units]
    page = render_html(panels, f"{rec.path}: characters {start:,}–{stop:,} of {rec.n_chars:,}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if output_format(out) == "html":
            tmp.write_text(page, encoding="utf-8")
        else:
            screenshot(page, tmp, find_browser())
    return out
