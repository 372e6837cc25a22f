"""The Theory map page through Streamlit's AppTest, run on its own (docs/theory.md §18)."""
from __future__ import annotations

import json

import numpy as np
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "theory_map.py")
TIMEOUT = 240


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))


def _run(query=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    if query:
        at.query_params = dict(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _press_compute(at: AppTest) -> AppTest:
    for b in at.button:
        if str(b.label).startswith("Compute theory map"):
            b.click().run()
            break
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_linear_map_draws_every_theory_and_marks_the_best():
    at = _press_compute(_run({"P": "12", "N": "24"}))
    assert "Theory map" in " ".join(t.value for t in at.title)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert charts, "no figure"
    heat = [t for t in charts[0]["data"] if t["type"] == "heatmap"]
    assert len(heat) == 6  # NNGP, tree, renormalised kernel, three one loops
    per_cell = np.sum([[[str(x).count("★") for x in row] for row in t["text"]] for t in heat], axis=0)
    # at most one most accurate theory per cell, starred only where it meets the stated accuracy; the linear map at
    # N = 2P has such cells
    assert per_cell.max() <= 1 and per_cell.sum() >= 1
    assert any("Most accurate" in m.value for m in at.markdown)


def test_recommendation_button_names_a_theory():
    at = _press_compute(_run({"P": "12", "N": "24"}))
    at.button(key="tmap.recommend").click().run()
    assert not at.exception
    assert any("renormalised one loop" in m.value for m in at.markdown)


def test_nonlinear_map_waits_for_the_button_and_errors_are_shown():
    at = _run({"act": "erf", "P": "12", "N": "24"})
    assert any(str(b.label).startswith("Compute theory map") for b in at.button)  # networks: on demand only
    at.multiselect(key="tmap.chis").set_value([]).run()
    assert not at.exception and any("at least one" in e.value for e in at.error)
