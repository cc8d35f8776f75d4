"""Imported runs in the dashboard, in a real headless Chromium: a PyTorch LSTM with an embedding and
a min-char-rnn, imported with `charnn import` and recorded, open like trained runs (text colored by
a unit, search, the Model tab), with a clean browser console.

    .venv/bin/pytest tests/dashboard/test_browser_import.py -q     # needs /usr/bin/chromium
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("selenium", reason="browser tests need dash[testing] (selenium)")

from test_browser import SPAN_COLORS, cell, start, status, tab, type_into  # noqa: E402

from charnn.importers import import_min_char_rnn, import_torch  # noqa: E402
from charnn.recording import record  # noqa: E402

pytestmark = pytest.mark.browser

TEXT = 'She said, "Yes, of course." He said, "No." They walked on.\n' * 40


@pytest.fixture(scope="module")
def imported_runs(tmp_path_factory):
    """runs/torch-lstm (2x16, embedding 8) and runs/karpathy (min-char-rnn, 16 units), each recorded."""
    root = tmp_path_factory.mktemp("imported") / "runs"
    src = root.parent
    chars = sorted(set(TEXT))
    (src / "text.txt").write_text(TEXT)
    (src / "vocab.json").write_text(json.dumps(chars))
    torch.manual_seed(0)
    user = nn.ModuleDict({"emb": nn.Embedding(len(chars), 8), "lstm": nn.LSTM(8, 16, num_layers=2, batch_first=True),
                          "out": nn.Linear(16, len(chars))})
    torch.save(user.state_dict(), src / "model.pt")
    import_torch(src / "model.pt", src / "vocab.json", root / "torch-lstm")
    rng = np.random.default_rng(0)
    np.savez(src / "params.npz", Wxh=rng.standard_normal((16, len(chars))) * 0.3, Whh=rng.standard_normal((16, 16)) * 0.3,
             Why=rng.standard_normal((len(chars), 16)) * 0.3, bh=np.zeros((16, 1)), by=np.zeros((len(chars), 1)))
    import_min_char_rnn(src / "params.npz", src / "vocab.json", root / "karpathy")
    for name in ("torch-lstm", "karpathy"):
        record(root / name, str(src / "text.txt"), name="text", streams=4, burn_in=32, progress=False)
    return root


def test_dsh_imp001_imported_runs_open_search_and_show_their_model(dash_duo, imported_runs):
    start(dash_duo, imported_runs, "?run=torch-lstm&rec=text&layer=1&kind=c&unit=3&win=1000")
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:3", timeout=20)
    colors = dash_duo.driver.execute_script(SPAN_COLORS)
    assert len(colors) == 400 and len(set(colors)) > 1
    type_into(dash_duo, "#search-regex", '"[^"]*"')
    assert cell(dash_duo, "search-table", 0, "unit").text.startswith(("0:", "1:"))
    tab(dash_duo, "Model")
    dash_duo.wait_for_element("#model-gates .scatterlayer", timeout=20)  # an LSTM's gates, derived from c, h

    dash_duo.driver.get(dash_duo.server_url + "/?run=karpathy&rec=text&layer=0&kind=h&unit=5&win=1000")
    dash_duo.wait_for_contains_text("#text-status", "unit 0:h:5", timeout=20)
    assert "chars" in status(dash_duo)
    colors = dash_duo.driver.execute_script(SPAN_COLORS)
    assert len(set(colors)) > 1
    assert dash_duo.get_logs() == []
