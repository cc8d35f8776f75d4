"""`charnn explain` on a real recording (a small random-weight LSTM): the file beside it, the feature
cache, paste-back into the search on the stored float16 values, and the atlas naming units.

    pytest -q tests/explanations/test_real_recording.py
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.explanations import explain, load_explanations
from charnn.search import atlas, search


@pytest.fixture(scope="module")
def real_rec(tmp_path_factory, text_of, make_real_recording):
    return make_real_recording(tmp_path_factory.mktemp("explain-rec"), text_of(8000, seed=9), seed=0)


def test_a_real_recording_is_explained_and_pasted_back(real_rec):
    df = explain(real_rec, progress=False)
    assert (real_rec.path / "explanations.parquet").is_file()
    assert (real_rec.path / "cache" / "explain-features" / "features.json").is_file()
    assert len(df[df["rank"] == 1]) == 32 and not df[["score", "r_all"]].isna().to_numpy().any()
    saved = load_explanations(real_rec, unit="0:c:3")
    assert list(saved["rank"]) == list(range(1, len(saved) + 1)) and saved.attrs["recording_id"] == \
        real_rec.meta["recording_id"]
    for row in df[(df["rank"] == 1) & (df.unit < 4) & (df.status == "ok")].itertuples():
        found = search(real_rec, explanation=row.explanation, kinds=[row.kind], progress=False)
        assert found.set_index("unit").r[row.unit] == pytest.approx(row.r_all, abs=1e-4), row.explanation
    _, per_unit = atlas(real_rec, progress=False)
    named = per_unit.dropna(subset=["explanation"])
    assert len(named) == (df[df["rank"] == 1].status == "ok").sum()
    first = named.iloc[0]
    assert first.explanation == df[(df.kind == first.kind) & (df.unit == first.unit) & (df["rank"] == 1)].explanation.iloc[0]
    np.testing.assert_allclose(named.explanation_r.to_numpy(),
                               named.merge(df[df["rank"] == 1], on=["layer", "kind", "unit"]).score.to_numpy())


def test_the_atlas_and_the_explanations_carry_each_units_half_life(real_rec, capsys):
    """half_life in `charnn atlas` and `charnn explain` (json, and explanations.parquet) is memory_spans'
    median half-life of the unit's c; an LSTM's h, which no gate decays, gets none."""
    import json

    from charnn.attribution import memory_spans
    from charnn.cli import main
    spans = memory_spans(real_rec, cache=False).set_index("unit")
    assert main(["atlas", str(real_rec.path), "--quiet", "--format", "json"]) == 0
    units = {(u["kind"], u["unit"]): u for u in json.loads(capsys.readouterr().out)["units"]}
    assert main(["explain", str(real_rec.path), "--quiet", "--format", "json"]) == 0
    rows = {(r["kind"], r["unit"]): r for r in json.loads(capsys.readouterr().out) if r["rank"] == 1}
    saved = load_explanations(real_rec)
    saved = saved[saved["rank"] == 1].set_index(["kind", "unit"])
    assert (real_rec.path / "cache" / "memory-spans.parquet").is_file()
    for u in (0, 5, 11):
        want = spans.loc[u]
        assert units[("c", u)]["half_life"] == want.half_life and units[("c", u)]["memory_class"] == want["class"]
        assert rows[("c", u)]["half_life"] == want.half_life == saved.loc[("c", u), "half_life"]
        assert units[("h", u)]["half_life"] is None and rows[("h", u)]["half_life"] is None
        assert np.isnan(saved.loc[("h", u), "half_life"])
    assert len({units[("c", u)]["half_life"] for u in range(16)}) > 1  # not one number for every unit
