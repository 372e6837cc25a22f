"""dashboard.state and dashboard.compute (no Streamlit): settings, URL names, theory curves and reference runs,
each checked against a direct library computation."""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

import mastcore as mc
from dashboard import compute
from dashboard.state import Settings, chi_grid

#: Same solver, same data: only floating-point round-off separates a sweep entry from a direct call.
TIGHT = 1e-10

SMALL = Settings(P=12, P_test=40, D=20, width=30)


def test_chi_grid_log_spaced_from_1_to_N():
    g = chi_grid(100, 25)
    assert g[0] == 1.0 and g[-1] == 100.0 and np.all(np.diff(g) > 0) and len(g) == 25
    ratios = np.diff(np.log(g))
    assert np.allclose(ratios, ratios.mean(), rtol=0.02)  # log-spaced (up to 3-significant-digit rounding)
    assert list(chi_grid(1)) == [1.0]


@hsettings(max_examples=30, deadline=None)
@given(P=st.integers(1, 5000), N=st.integers(1, 10000), kappa0=st.floats(0.01, 100), seed=st.integers(0, 10**6))
def test_query_roundtrip(P, N, kappa0, seed):
    s = Settings(P=P, width=N, kappa0=kappa0, seed=seed, activation="relu")
    values, bad = Settings.parse_query(s.to_query())
    assert not bad
    back = Settings(**values)
    assert (back.P, back.width, back.seed, back.activation) == (P, N, seed, "relu")
    assert back.kappa0 == pytest.approx(kappa0, rel=1e-5)  # URLs carry 6 significant digits


def test_parse_query_reports_bad_values():
    values, bad = Settings.parse_query({"P": "many", "N": "20"})
    assert values == {"width": 20} and "'P' must be an integer" in bad[0]


@pytest.mark.parametrize("change, needle", [({"P_test": 0}, "P*"), ({"width": 0}, "N (width)"),
                                            ({"kappa0": 0.0}, "κ0"), ({"p": 0.7}, "flip")])
def test_problems_name_the_setting_and_remedy(change, needle):
    msgs = SMALL.replace(**change).problems()
    assert len(msgs) == 1 and needle in msgs[0] and "sidebar" in msgs[0]
    with pytest.raises(ValueError, match="sidebar"):
        compute.build_task(SMALL.replace(**change))


def test_build_task_csv_needs_enough_rows():
    X, y = np.random.default_rng(0).standard_normal((10, 3)), np.ones(10)
    with pytest.raises(ValueError, match="at most 9"):
        compute.build_task(SMALL.replace(task="csv", P=10), (X, y))
    task = compute.build_task(SMALL.replace(task="csv", P=6), (X, y))
    assert task.X.shape == (6, 3) and task.X_test.shape == (4, 3)


def test_theory_curves_equal_direct_solves(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    task = compute.build_task(SMALL)
    chis = chi_grid(SMALL.width, 6)
    cv = compute.theory_curves(task, SMALL, chis, ("nngp", "tree"))
    assert set(cv.table["method"]) == {"nngp", "tree"} and not cv.messages
    chi = chis[3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = mc.tree_level(task.X, task.y, SMALL.network_spec(chi), X_test=task.X_test)
    row = cv.at("tree", chi * 1.01)  # nearest grid point
    assert row["chi"] == chi
    assert abs(row["train_mean_y_delta"] - mc.discrepancies(task.y, direct.f_train)["mean_y_delta"]) < TIGHT
    assert abs(row["test_mean_sq_delta"] - mc.discrepancies(task.y_test, direct.f_test)["mean_sq_delta"]) < TIGHT
    assert abs(row["s"] - direct.s) < TIGHT and cv.tree(chi).s == pytest.approx(direct.s, abs=TIGHT)
    eig, vec = direct.top_direction()
    assert row["outlier"] == pytest.approx(eig / (SMALL.g_v / task.D), rel=1e-9)
    nngp = mc.nngp(task.X, task.y, SMALL.network_spec(1.0))
    vals = cv.table[cv.table["method"] == "nngp"]["train_mean_y_delta"].to_numpy()
    assert np.allclose(vals, mc.discrepancies(task.y, nngp.f_train)["mean_y_delta"], atol=TIGHT)  # flat in χ
    # the second time it comes from the disk cache, also when only the cache may answer
    again = compute.theory_curves(task, SMALL, chis, ("nngp", "tree"), cache_mode="only")
    pd.testing.assert_frame_equal(again.table.drop(columns="seconds"), cv.table.drop(columns="seconds"))
    with pytest.raises(mc.cache.CacheMiss):
        compute.theory_curves(task, SMALL.replace(kappa0=0.7), chis, ("nngp", "tree"), cache_mode="only")


def test_feature_summary_rescaling_and_outlier():
    task = compute.build_task(SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mc.ConvergenceWarning)
        tree = mc.tree_level(task.X, task.y, SMALL.network_spec(float(SMALL.width)))
    fs = mc.theory.features.feature_summary(tree, task.X, task.y, task.direction)
    assert fs["eig"][0] > 1.5 and np.allclose(fs["eig"][1:], fs["eig"][1:].clip(max=1.0))  # one outlier above prior
    assert fs["overlap"] > 0.9  # aligned with the all-ones Ising direction
    # docs/theory.md §4: a best single scalar reproduces the mean predictor up to a small spectral correction
    assert fs["rescaling_gap"] < 0.05
    f_fit, _ = mc.gp_predict(fs["s_fit"] * fs["C0"], task.y, SMALL.kappa0)
    assert np.max(np.abs(f_fit - tree.f_train)) == pytest.approx(fs["rescaling_gap"] * fs["shift"], rel=1e-6)


def test_reference_run_is_listed_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    task = compute.build_task(SMALL)
    assert compute.runs(task, SMALL).empty
    res, row, msgs = compute.reference_run(task, SMALL, 5.0, "exact", dict(n_chains=4, n_sweeps=40, burn_in=5))
    assert row["train_mean_y_delta"] == pytest.approx(mc.discrepancies(task.y, res.f_train)["mean_y_delta"])
    runs = compute.runs(task, SMALL)
    assert len(runs) == 1 and runs.loc[0, "chi"] == 5.0 and runs.loc[0, "train_mean_y_delta_se"] > 0
    assert runs.loc[0, "options"] == dict(n_chains=4, n_sweeps=40, burn_in=5)
    assert compute.runs(task, SMALL.replace(kappa0=0.3)).empty  # another network: not listed
    tr = compute.traces(res)
    assert tr["mean_y_delta"].shape == res.trace.steps.shape
    mc.cache.clear_cache()
    assert compute.runs(task, SMALL).empty  # the list agrees with the cache after clearing it


def test_width_scaling_table(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    small = SMALL.replace(P=6, D=10)
    task = compute.build_task(small)
    df = compute.width_scaling(task, small, [8, 16], exact_options=dict(n_chains=4, n_sweeps=40, burn_in=5))
    assert isinstance(df, pd.DataFrame) and len(df) == 2 * 2 * 3
    assert np.allclose(df["error"], np.abs(df["value"] - df["exact"]))
    ex = mc.exact_posterior(task.X, task.y, small.replace(width=16).network_spec(16.0), n_chains=4, n_sweeps=40,
                            burn_in=5)
    got = df[(df.width == 16) & (df.regime == "χ = N")]["exact"].iloc[0]
    assert got == pytest.approx(mc.discrepancies(task.y, ex.f_train)["mean_y_delta"], abs=1e-14)


def test_state_and_compute_do_not_import_streamlit():
    """Only dashboard.widgets and dashboard.navigation (and the pages) touch Streamlit."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, dashboard.state, dashboard.compute; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'streamlit'], 'streamlit imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
