"""Units against latents in a real headless Chromium (dash_duo): on the Explain tab of the tiny
recording with latents, compare them, read the table (the atlas's units_vs_latents), and open the
best latent and the best unit of a concept in the neuron view; the console stays free of errors.

    .venv/bin/pytest tests/dashboard/test_browser_versus.py -q     # needs /usr/bin/chromium
"""

from __future__ import annotations

import pytest

pytest.importorskip("selenium", reason="browser tests need dash[testing] (selenium)")

from dash.testing.wait import until  # noqa: E402
from test_browser import cell, start, tab, url  # noqa: E402

import charnn  # noqa: E402
from charnn.search import atlas  # noqa: E402

pytestmark = pytest.mark.browser


def test_dsh014_compare_units_and_latents_and_open_both(dash_duo, latent_runs):
    rec = charnn.open_recording(latent_runs / "tiny" / "recordings" / "pride")
    rows = atlas(rec, kinds=["c", "h", "sae-dash"], progress=False)[0].attrs["units_vs_latents"]
    start(dash_duo, latent_runs, "?layer=0&kind=h&unit=3&win=1000")
    tab(dash_duo, "Explain")
    dash_duo.wait_for_contains_text("#versus-note", "pride stores the latents of 1 autoencoder (sae-dash)", timeout=10)
    dash_duo.find_element("#versus-go").click()
    dash_duo.wait_for_contains_text("#versus-status", f"{len(rows)} concepts compared in", timeout=30)
    until(lambda: cell(dash_duo, "versus-table", 0, "concept").text == rows[0]["concept"], timeout=10)
    shown = [[cell(dash_duo, "versus-table", i, c).text for c in ("concept", "unit", "latent", "difference", "wins")]
             for i in range(len(rows))]
    assert shown == [[r["concept"], r["unit"], r["latent"],
                      f"{r['difference']:+.3f}".replace("-", "\N{MINUS SIGN}"),  # d3's minus
                      "latent" if r["difference"] >= 0.0005 else "unit" if r["difference"] <= -0.0005 else "tie"]
                     for r in rows]
    assert "the best latent beats the best unit on" in dash_duo.find_element("#versus-summary").text
    held = [[cell(dash_duo, "versus-table", i, c).text for c in ("unit_heldout", "latent_heldout",
                                                                 "latent_heldout_score")] for i in range(len(rows))]
    assert held == [[r["unit_heldout"], r["latent_heldout"], f"{r['latent_heldout_score']:.3f}"] for r in rows]
    assert "held out (characters" in dash_duo.find_element("#versus-summary").text

    cell(dash_duo, "versus-table", 0, "latent").click()
    dash_duo.wait_for_contains_text("#text-status", f"unit {rows[0]['latent']}", timeout=10)
    assert "tab=neuron" in url(dash_duo) and "kind=sae-dash" in url(dash_duo)
    tab(dash_duo, "Explain")  # the comparison is still there
    cell(dash_duo, "versus-table", 1, "unit").click()
    dash_duo.wait_for_contains_text("#text-status", f"unit {rows[1]['unit']}", timeout=10)
    assert dash_duo.get_logs() == []
