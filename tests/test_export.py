"""`charnn export`: static colored-text panels, checked against charnn.colors on a tiny real recording.

    .venv/bin/pytest tests/test_export.py -q        # the PNG test needs chromium on PATH
"""

from __future__ import annotations

import html
import re
import shutil

import pytest

from charnn import colors
from charnn.chromium import chromium
from charnn.cli import main
from charnn.corpus_store import corpora_dir
from charnn.export import ExportError, export
from charnn.recording import open_recording, record
from charnn.train import TrainConfig, Trainer

SPAN = re.compile(r'<span style="background:(#[0-9a-f]{6})" title="([^"]*)">(.*?)</span>', re.S)
PLANTED = 'Tags <b> & "quotes"\tand a tab.\n\n'  # characters HTML must escape, a tab, an empty line


@pytest.fixture(scope="module")
def rec_path(tmp_path_factory):
    """A 2x8 LSTM trained 4 steps, recording i, f, c, h over 6,000 characters that begin with PLANTED."""
    root = tmp_path_factory.mktemp("export")
    corpus = root / "text.txt"
    corpus.write_text(PLANTED + (corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[:6000])
    cfg = TrainConfig(corpus=str(corpus), out=str(root / "run"), seq_len=16, batch_size=4, max_steps=4,
                      eval_every=4, warmup_steps=1, eval_chars=500, lr=1e-2)
    Trainer(cfg, dict(cell="lstm", layers=2, hidden=8, embed=8)).fit()
    return record(root / "run", str(corpus), name="text", kinds="i,f,c,h", streams=2, burn_in=16, progress=False)


def panels(page: str) -> list[list[tuple[str, str, str]]]:
    """[(color, title, character), ...] for each panel, with the text as the reader sees it."""
    out = []
    for section in page.split('<section class="panel">')[1:]:
        spans = SPAN.findall(section)
        out.append([(c, html.unescape(t), html.unescape(ch).replace("\u21b5\n", "\n").replace("\u21e5\t", "\t"))
                    for c, t, ch in spans])
    return out


def expected_colors(rec, layer, kind, unit, start, stop, scale):
    lo, hi = rec.unit_range(layer, kind)
    values = rec.activations(layer, kind, [unit], start, stop)[:, 0]
    return colors.diverging(colors.normalize(values, kind, scale, lo[unit], hi[unit])), values


@pytest.mark.parametrize("scale", ["tanh", "raw"])
def test_each_panel_has_the_text_and_the_dashboard_colors(rec_path, tmp_path, scale):
    rec = open_recording(rec_path)
    units = [(0, "c", 3), (1, "f", 7), (1, "h", 0)]
    out = export(rec_path, units, tmp_path / "fig.html", start=0, chars=300, scale=scale)
    page = out.read_text(encoding="utf-8")
    got = panels(page)
    assert len(got) == len(units)
    for (layer, kind, unit), spans in zip(units, got):
        want, values = expected_colors(rec, layer, kind, unit, 0, 300, scale)
        assert "".join(ch for _, _, ch in spans) == rec.string[:300]
        assert [c for c, _, _ in spans] == want
        assert spans[5][1].startswith(f"pos 5 '<' = {values[5]:.4f}")
    assert "layer 0, unit 3, c: " + scale in page and "layer 1, unit 7, f<" in page
    assert ">&lt;</span>" in page and ">&amp;</span>" in page and "><</span>" not in page  # escaped, not markup
    assert "<script" not in page and "http" not in page  # self-contained
    assert [p.name for p in tmp_path.iterdir()] == ["fig.html"]  # no temporary file left


def test_window_is_cut_at_the_end_and_checked(rec_path, tmp_path):
    rec = open_recording(rec_path)
    out = export(rec, [(0, "h", 1)], tmp_path / "end.html", start=rec.n_chars - 10, chars=100)
    assert len(panels(out.read_text())[0]) == 10
    for start, chars, message in [(rec.n_chars, 10, "outside the recording"), (-1, 10, "outside"),
                                  (0, 0, "1 to 20,000"), (0, 10**6, "1 to 20,000")]:
        with pytest.raises(ExportError, match=message):
            export(rec, [(0, "h", 1)], tmp_path / "bad.html", start=start, chars=chars)
    with pytest.raises(ValueError, match="do not exist"):
        export(rec, [(0, "h", 8)], tmp_path / "bad.html")
    with pytest.raises(ExportError, match="FILE.html or FILE.png"):
        export(rec, [(0, "h", 1)], tmp_path / "fig.pdf")
    assert not (tmp_path / "bad.html").exists()


def test_cli_writes_named_and_searched_units(rec_path, tmp_path, capsys):
    out = tmp_path / "figs" / "ws.html"
    assert main(["export", str(rec_path), "--unit", "1:c:2", "--concept", "whitespace", "--top", "2",
                 "--start", "5", "--chars", "400", "--out", str(out), "--quiet"]) == 0
    page = out.read_text()
    n = len(panels(page))
    assert n in (2, 3) and page.count("for concept whitespace: separation") == 2  # 1:c:2 may be among the best
    assert "layer 1, unit 2, c: tanh" in page and "characters 5–405" in page
    assert f"wrote {out}: {n} panels" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["/nonexistent/rec", "--unit", "0:c:1"], "is not a recording"),
    (["REC", "--unit", "0:c:99"], "do not exist"),
    (["REC", "--unit", "5:c:1"], "layer 5 is not recorded"),
    (["REC", "--unit", "0-c-1"], "not LAYER:KIND:UNIT"),
    (["REC", "--unit", "0:c:1", "--start", "999999"], "outside the recording"),
    (["REC", "--unit", "0:c:1", "--chars", "0"], "argument --chars: must be an integer >= 1"),
    (["REC"], "no units"),
    (["REC", "--unit", "0:c:1", "--top", "2"], "--top picks units"),
])
def test_cli_errors_are_one_clear_line(rec_path, tmp_path, capsys, argv, message):
    argv = [str(rec_path) if a == "REC" else a for a in argv]
    assert main(["export", *argv, "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("charnn export: error:") and message in err
    assert not (tmp_path / "x.html").exists()


def test_png_without_a_browser_says_to_write_html(rec_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name, path=None: None)
    assert main(["export", str(rec_path), "--unit", "0:c:1", "--out", str(tmp_path / "x.png")]) == 2
    assert "write FILE.html instead" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None,
                    reason="needs a headless Chromium (apt-get install chromium)")
def test_png_is_a_screenshot_of_the_whole_page(rec_path, tmp_path):
    out = export(rec_path, [(0, "c", 3), (1, "h", 0)], tmp_path / "fig.png", chars=500)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1000 and height > 600  # two panels of 500 characters at 2x, not an empty viewport
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
