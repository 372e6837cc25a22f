"""Figure builders of mastcore.plots: structure of the returned plotly figures."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mastcore import plots


def _table():
    chis = np.array([1.0, 3.0, 10.0])
    rows = []
    for m, vals in (("nngp", [0.3, 0.3, 0.3]), ("tree", [0.29, 0.2, 0.1]), ("one_loop", [0.3, 0.21, 0.11])):
        rows += [{"chi": c, "method": m, "train_mean_y_delta": v} for c, v in zip(chis, vals)]
    return pd.DataFrame(rows)


def test_regimes_figure_curves_refs_and_marker():
    refs = pd.DataFrame([{"kind": "exact", "chi": 3.0, "train_mean_y_delta": 0.21, "train_mean_y_delta_se": 0.002}])
    fig = plots.regimes_figure(_table(), "train_mean_y_delta", 3.0, refs, ylabel="train")
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names[1:4] == ["NNGP", "tree level", "one loop"] and "exact posterior" in names
    exact = fig.data[names.index("exact posterior")]
    assert list(exact.error_y.array) == [0.002]
    marker = next(t for t in fig.data if t.meta == "chi-marker")
    assert list(marker.x) == [3.0, 3.0, 3.0] and sorted(marker.y) == [0.2, 0.21, 0.3]
    assert fig.layout.xaxis.type == "log"
    # the marker is drawn first (beneath the curves and the reference points) and translucent: it cannot hide them
    assert list(fig.data).index(marker) == 0 and marker.marker.opacity < 1


def test_regimes_figure_curves_that_coincide_stay_distinguishable():
    t = _table()
    same = t[t["method"] == "one_loop"].assign(method="quadrature")  # the exact curve on top of the one loop
    both = pd.concat([t, same, t[t["method"] == "one_loop"].assign(method="renormalised_loop")], ignore_index=True)
    fig = plots.regimes_figure(both, "train_mean_y_delta", 3.0)
    curves = [c for c in fig.data if c.meta != "chi-marker"]
    styles = [(c.line.dash, c.marker.symbol) for c in curves]
    assert len(curves) == 5 and len(set(styles)) == 5, styles  # no two curves share dash and marker
    assert all(c.mode == "lines+markers" for c in curves)
    exact = next(c for c in curves if c.name == plots.METHOD_STYLE["quadrature"][0])
    assert "exact posterior" in exact.name and curves[-1] is exact  # drawn last: on top of a coinciding theory
    assert exact.line.width < min(c.line.width for c in curves if c is not exact)


def test_regimes_figure_marker_between_grid_points_has_no_values():
    fig = plots.regimes_figure(_table(), "train_mean_y_delta", 5.0)
    marker = next(t for t in fig.data if t.meta == "chi-marker")
    assert list(marker.x) == [5.0] and marker.y == (None,)


def test_kernel_heatmaps_share_colour_scale_and_order():
    C0 = np.diag([1.0, 2.0, 3.0])
    C = 2 * C0
    fig = plots.kernel_heatmaps(C0, C, order=np.array([2, 1, 0]))
    z0, z1 = np.array(fig.data[0].z), np.array(fig.data[1].z)
    assert z0[0, 0] == 3.0 and z1[0, 0] == 6.0
    assert fig.data[0].zmax == fig.data[1].zmax == 6.0


def test_other_builders_return_figures():
    rng = np.random.default_rng(0)
    X, y = np.sign(rng.standard_normal((10, 16))), np.sign(rng.standard_normal(10))
    df = pd.DataFrame([dict(width=n, regime=r, method=m, error=1.0 / n, exact_se=1e-3)
                       for n in (8, 16) for r in ("χ = 1", "χ = N") for m in ("nngp", "tree")])
    t = _table().assign(s=1.0, overlap=0.9)
    figs = [plots.sigma_v_spectrum(np.array([3.0, 1.0, 1.0])), plots.traces_figure({"a": np.arange(5.0)}, burn_in=2),
            plots.width_scaling_figure(df), plots.spins_image(X, y), plots.label_balance(y, y),
            plots.kernel_spectrum(np.array([3.0, 1.0, 0.0]), kappa0=1.0), plots.digit_samples(X, y, n=4),
            plots.vs_chi_figure(t, "overlap", 3.0)]
    assert all(isinstance(f, go.Figure) and len(f.data) > 0 for f in figs)
    assert plots.sigma_v_spectrum(np.array([3.0, 1.0])).data[0].marker.color[0] != "#0072B2"  # outlier highlighted


def test_digit_samples_needs_square_inputs():
    with pytest.raises(ValueError, match="square"):
        plots.digit_samples(np.zeros((3, 10)), np.zeros(3))


def test_log_ticks_are_1_2_5():
    assert plots.log_ticks(1, 100) == [1, 2, 5, 10, 20, 50, 100]
    assert plots.log_ticks(1, 50) == [1, 2, 5, 10, 20, 50]
    assert plots.log_ticks(3e-5, 2e-2)[:3] == [5e-5, 1e-4, 2e-4]
    assert plots.log_ticks(1e-6, 1.0) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]  # many decades: powers of ten
    ax = plots.log_axis(1, 100)
    assert ax["type"] == "log" and ax["ticktext"] == ["1", "2", "5", "10", "20", "50", "100"]
    fig = plots.regimes_figure(_table(), "train_mean_y_delta", 3.0)
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 5, 10]


def test_live_regimes_figure_carries_every_chi_step():
    refs = pd.DataFrame([{"kind": "exact", "chi": 3.0, "train_mean_y_delta": 0.21, "train_mean_y_delta_se": 0.002}])
    fig = plots.regimes_figure(_table(), "train_mean_y_delta", 3.0, refs, live=True, meta="m")
    assert fig.layout.meta == "m"
    slider = fig.layout.sliders[0]
    assert [float(s.value) for s in slider.steps] == [1.0, 3.0, 10.0] and slider.active == 1
    marker_index = [t.meta for t in fig.data].index("chi-marker")
    for step, chi in zip(slider.steps, (1.0, 3.0, 10.0)):
        data, layout, traces = step.args
        assert list(traces) == [marker_index]
        t = _table()
        expected = sorted(t[t["chi"] == chi]["train_mean_y_delta"])
        assert sorted(data["y"][0]) == expected and set(data["x"][0]) == {chi}  # every method's value at χ
        assert layout["shapes[0].x0"] == chi
        text = layout["annotations[0].text"]
        assert f"χ = {chi:g}" in text and all(f"{v:.5f}" in text for v in expected)
    assert "exact posterior: 0.21000 ± 0.00200" in slider.steps[1].args[1]["annotations[0].text"]
    assert "exact posterior" not in slider.steps[0].args[1]["annotations[0].text"]


def test_features_figure_anchors_the_overlap_axis():
    t = _table().assign(s=[1.0, 1.5, 2.0] * 3, outlier=[1.0, 2.0, 3.0] * 3, overlap=[0.90, 0.95, 0.99] * 3)
    fig = plots.features_figure(t, 3.0, live=True, meta="f")
    assert list(fig.layout.yaxis3.range) == [0.0, 1.05]  # the overlap panel does not zoom into 0.90 … 0.99
    assert fig.layout.xaxis.type == "log" and len(fig.layout.sliders[0].steps) == 3
    data, layout, traces = fig.layout.sliders[0].steps[2].args
    assert [list(y) for y in data["y"]] == [[2.0], [3.0], [0.99]] and len(traces) == 3


def test_width_scaling_figure_has_1_over_N_guides():
    df = pd.DataFrame([dict(width=n, regime=r, method=m, error=(1.0 / n if m == "tree" else 1.0 / n**2),
                            exact_se=1e-5) for n in (8, 16, 32) for r in ("χ = 1", "χ = N") for m in ("tree", "one_loop")])
    fig = plots.width_scaling_figure(df)
    guides = {t.name: t for t in fig.data if t.name in ("∝ 1/N", "∝ 1/N²")}
    assert set(guides) == {"∝ 1/N", "∝ 1/N²"}
    assert np.allclose(guides["∝ 1/N"].y, [1 / 8, 1 / 16, 1 / 32]) and np.allclose(guides["∝ 1/N²"].y,
                                                                                   [1 / 64, 1 / 256, 1 / 1024])


def test_digits_share_one_colour_scale_with_square_pixels():
    X = np.random.default_rng(0).standard_normal((4, 64))
    fig = plots.digit_samples(X, np.ones(4), n=4)
    assert {(h.zmin, h.zmax) for h in fig.data} == {(-2.5, 2.5)} and sum(h.showscale for h in fig.data) == 1
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis4.scaleanchor == "x4"


def test_predictions_and_learning_curves_figures():
    df = pd.DataFrame({"method": ["nngp"] * 4 + ["tree"] * 4, "split": ["train", "train", "test", "test"] * 2,
                       "index": [0, 1, 0, 1] * 2, "true": [1.0, -1.0] * 4, "predicted": [0.5, -0.4, 0.3, -0.2] * 2})
    fig = plots.predictions_figure(df)
    pts = [t for t in fig.data if t.name in ("NNGP", "tree level")]
    assert len(pts) == 4 and all(np.allclose(np.round(np.asarray(t.x)), [1, -1]) for t in pts)
    lc = pd.DataFrame([dict(P=p, method=m, train_mean_y_delta=1 / p, test_mean_y_delta=2 / p) for p in (5, 10, 20)
                       for m in ("nngp", "quadrature")])
    fig = plots.learning_curves_figure(lc, "mean_y_delta")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log" and len(fig.data) == 4


def test_traces_figure_puts_one_quantity_per_axis():
    fig = plots.traces_figure({"loss": np.linspace(3.0, 1.0, 6), "mean(y·Δ)": np.full(6, 0.2)}, burn_in=2,
                              steps=np.arange(6), reference={"NNGP": 0.3, "one loop": 0.21}, reference_on="mean(y·Δ)")
    axis = {t.name: t.yaxis for t in fig.data}
    assert axis["loss"] != axis["mean(y·Δ)"]  # two quantities, two y axes
    assert axis["NNGP"] == axis["one loop"] == axis["mean(y·Δ)"]  # the theory lines on the quantity they predict
    assert fig.layout.yaxis.title.text == "loss" and fig.layout.yaxis2.title.text == "mean(y·Δ)"


def test_theory_map_stars_only_cells_that_meet_the_accuracy():
    rows = []
    for w in (10, 20):
        for th, rel in (("tree", 0.05 if w == 10 else 0.3), ("nngp", 0.9)):
            rows.append(dict(width=w, P_over_N=20 / w, chi_fraction=0.0, theory=th, label=th, relative_error=rel,
                             best=th == "tree"))
    fig = plots.theory_map_figure(pd.DataFrame(rows), accuracy=0.15)
    tree = next(t for t in fig.data if "tree" in t.hovertemplate)
    assert [list(r) for r in tree.text] == [["★"], [""]]  # best in both rows, accurate only in the first
    assert not fig.layout.title.text  # no figure title to collide with the panels' titles


def test_width_scaling_table_speaks_the_charts_words():
    df = pd.DataFrame([dict(width=n, regime=r, chi=1.0, method=m, value=0.2, exact=0.21, exact_se=0.0,
                            error=0.01) for n in (8, 16) for r in ("χ = 1", "χ = N") for m in ("nngp", "tree")])
    fig, table = plots.width_scaling_figure(df), plots.width_scaling_table(df)
    assert fig.layout.xaxis.title.text in table.columns and fig.layout.yaxis.title.text in table.columns
    assert {a.text for a in fig.layout.annotations} == set(table["χ"])  # the panels' titles
    assert {t.name for t in fig.data if t.legendgroup in ("nngp", "tree")} == set(table["theory"])
    assert "± s.e. (Gibbs)" not in table.columns  # the quadrature is exact: no error column, no noise floor
    assert not any("noise floor" in (t.name or "") for t in fig.data)
