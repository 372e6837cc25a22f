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
    assert names[:3] == ["NNGP", "tree level", "one loop"] and "exact posterior" in names
    exact = fig.data[names.index("exact posterior")]
    assert list(exact.error_y.array) == [0.002]
    marker = fig.data[-1]
    assert list(marker.x) == [3.0, 3.0, 3.0] and sorted(marker.y) == [0.2, 0.21, 0.3]
    assert fig.layout.xaxis.type == "log"


def test_regimes_figure_marker_between_grid_points_has_no_values():
    fig = plots.regimes_figure(_table(), "train_mean_y_delta", 5.0)
    assert list(fig.data[-1].x) == [5.0] and fig.data[-1].y == (None,)


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
