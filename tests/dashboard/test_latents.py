"""An autoencoder's latents in the dashboard: a latent kind (sae-NAME, stored in one layer) in the
pickers, the text coloring, the details and the heatmap, on the dashboard's tiny recording.

    pytest -q tests/dashboard/test_latents.py
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.units import Unit
from dashboards.data import DataStore
from dashboards.state import resolve
from dashboards.views import heatmap
from dashboards.views.textpanel import paint_payload, window_payload

KIND = "sae-dash"  # the latents of the `latent_runs` fixture


@pytest.fixture(scope="module")
def data(latent_runs):
    return DataStore(latent_runs)


def test_the_latent_kind_is_offered_in_its_own_layer(data):
    info = data.info("tiny", "pride")
    assert KIND in info["kinds"] and info["kind_layers"][KIND] == [1]
    view = resolve({"layer": 0, "kind": KIND, "unit": 45}, data)  # layer 0 has no latents: the view moves to 1
    assert (view["layer"], view["kind"], view["unit"]) == (1, KIND, 5) and data.width("tiny", "pride", 1, KIND) == 40


def test_text_coloring_and_heatmap_of_a_latent(data):
    latents = data.units_window("tiny", "pride", [Unit(1, KIND, j) for j in range(40)], 0, 500)  # (40, 500)
    assert ((latents != 0).sum(0) <= 4).all()  # k = 4 of 40 active at each character
    j = int(np.argmax((latents != 0).sum(1)))
    view = resolve({"layer": 1, "kind": KIND, "unit": j, "pos": 0, "win": 500}, data)
    values = data.unit_window("tiny", "pride", 1, KIND, j, 0, 500)
    assert (values != 0).any()
    paint = paint_payload(data, view)
    assert len(paint["colors"]) == len(window_payload(data, view)["chars"]) == view["win"]
    assert len(set(paint["colors"])) > 1
    options = heatmap.unit_options(data, view, "sae-dash:3", [])
    assert options[:2] == [f"1:{KIND}:3", f"1:{KIND}:30"]
    units, missing = heatmap.chosen_units(data, view, [f"1:{KIND}:39", f"1:{KIND}:40", f"0:{KIND}:1"])
    assert units == [Unit(1, KIND, 39)] and missing == 2
    block = data.units_window("tiny", "pride", units, 0, 500)
    np.testing.assert_array_equal(block[0], data.unit_window("tiny", "pride", 1, KIND, 39, 0, 500))


def test_the_intervention_panel_ablates_and_clamps_a_latent(data):
    from charnn.causal import Mode
    from dashboards.interventions import Request, samples, score_window
    run, text = data.run("tiny"), data.text("tiny", "pride")[:600]
    result = score_window(run, text, Unit(1, KIND, 3), Mode.parse("clamp=2"), Request(mode="clamp", value="2"))
    assert result.unit == f"1:{KIND}:3" and result.n_chars == 600 and np.nanmax(np.abs(result.per_char_delta)) > 0
    plain, clamped = samples(run, (Unit(1, KIND, 3), 50.0), "It is a truth", seed=0)
    assert plain != clamped
