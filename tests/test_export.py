"""Exports and citation of the app: a figure's data as a table, the BibTeX of the paper and of
the software, the link of a view; in the app every chart gets PNG/SVG (plotly config) and CSV, and a Cite
expander sits in the sidebar."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import mastcore as mc
from mastcore_dashboard import export

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240


def test_figure_table_round_trips_scatter_error_bars_and_heatmaps():
    z = np.arange(6.0).reshape(2, 3)
    fig = go.Figure([go.Scatter(x=[1.0, 2.0], y=[3.0, 5.0], name="tree", error_y=dict(array=[0.1, 0.2])),
                     go.Heatmap(z=z, x=[10, 20, 30], y=["a", "b"])])
    table = pd.read_csv(io.StringIO(export.figure_csv(fig)))
    scatter = table[table["trace"] == 0]
    assert scatter["name"].tolist() == ["tree", "tree"]
    np.testing.assert_array_equal(scatter[["x", "y", "error_y"]].to_numpy(dtype=float), [[1, 3, 0.1], [2, 5, 0.2]])
    heat = table[table["trace"] == 1]
    assert len(heat) == z.size
    # cell (row "b", column 20) holds z[1, 1]
    assert heat[(heat["y"] == "b") & (heat["x"].astype(float) == 20)]["z"].item() == z[1, 1]


def test_every_app_figure_builder_exports_its_points():
    X, y = mc.ising(12, 10, 0.1, seed=0)
    from mastcore import plots

    fig = plots.label_balance(y, y)
    table = export.figure_table(fig)
    n_points = sum(len(np.atleast_1d(tr.x if tr.x is not None else tr.y)) for tr in fig.data)
    assert len(table) == n_points > 0


def test_bibtex_and_view_link():
    assert "From Kernels to Features" in export.BIBTEX_PAPER and "Helias" in export.BIBTEX_PAPER
    assert export.BIBTEX_PAPER.count("{") == export.BIBTEX_PAPER.count("}")
    soft = export.bibtex_software("9.9.9")
    assert "version = {9.9.9}" in soft and soft.count("{") == soft.count("}")
    link = export.view_link("http://h:8501/regimes?old=1", {"N": "100", "chi": "10", "m": ["a", "b"]})
    assert link == "http://h:8501/regimes?N=100&chi=10&m=a&m=b"
    text = export.cite_text("1.0", link)
    assert link in text and export.BIBTEX_PAPER in text


def test_citation_cff_names_the_paper_and_matches_the_version():
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["version"] == mc.__version__
    paper = cff["preferred-citation"]
    assert paper["title"] == "From Kernels to Features: A Multi-Scale Adaptive Theory of Feature Learning"
    assert [a["family-names"] for a in paper["authors"]] == ["Rubin", "Fischer", "Lindner", "Seroussi", "Ringel",
                                                            "Krämer", "Helias"]
    assert paper["year"] == 2025


@pytest.fixture()
def app(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/data.py").run()  # several charts, cheap
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_app_charts_have_png_svg_and_csv_and_a_cite_expander(app):
    charts = app.get("plotly_chart")
    assert charts
    downloads = {b.proto.id for b in app.get("download_button")}
    for c in charts:
        config = json.loads(c.proto.config)
        assert config["toImageButtonOptions"]["format"] == "png" and config["toImageButtonOptions"]["filename"]
        spec = json.loads(c.proto.spec)
        assert spec["layout"]["meta"], "the SVG button finds its chart by layout.meta"
    assert len(downloads) >= len(charts), "a CSV download per chart"
    labels = [e.label for e in app.sidebar.expander]
    assert "Cite" in labels
    app.session_state["cite.open"] = True  # the expander draws its content only while open
    app.run()
    code = " ".join(c.value for c in app.sidebar.code)
    assert "@inproceedings{rubin2025kernels" in code and "@software{mastcore" in code
    assert "volume    = {267}" in code and "52225--52257" in code
