"""mastcore.explore: settings, sweeps and reference summaries, each checked against a direct computation."""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

import mastcore as mc
from mastcore import explore
from mastcore.explore import Settings

#: Same solver, same data: only floating-point round-off separates a sweep entry from a direct call.
TIGHT = 1e-10

SMALL = Settings(P=12, P_test=40, D=20, width=30)


def test_chi_grid_log_spaced_from_1_to_N():
    g = explore.chi_grid(100, 25)
    assert g[0] == 1.0 and g[-1] == 100.0 and np.all(np.diff(g) > 0) and len(g) == 25
    ratios = np.diff(np.log(g))
    assert np.allclose(ratios, ratios.mean(), rtol=0.02)  # log-spaced (up to 3-significant-digit rounding)
    assert list(explore.chi_grid(1)) == [1.0]


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
        explore.build_task(SMALL.replace(**change))


def test_build_task_csv_needs_enough_rows():
    X, y = np.random.default_rng(0).standard_normal((10, 3)), np.ones(10)
    with pytest.raises(ValueError, match="at most 9"):
        explore.build_task(SMALL.replace(task="csv", P=10), (X, y))
    task = explore.build_task(SMALL.replace(task="csv", P=6), (X, y))
    assert task.X.shape == (6, 3) and task.X_test.shape == (4, 3)


def test_theory_sweep_equals_direct_solves():
    task = explore.build_task(SMALL)
    chis = explore.chi_grid(SMALL.width, 6)
    sw = explore.theory_sweep(task, SMALL, chis, ("nngp", "tree"), cache=False)
    assert set(sw.table["method"]) == {"nngp", "tree"} and not sw.messages
    chi = chis[3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = mc.tree_level(task.X, task.y, SMALL.network_spec(chi), X_test=task.X_test)
    row = sw.at("tree", chi * 1.01)  # nearest grid point
    assert row["chi"] == chi
    assert abs(row["train_mean_y_delta"] - mc.discrepancies(task.y, direct.f_train)["mean_y_delta"]) < TIGHT
    assert abs(row["test_mean_sq_delta"] - mc.discrepancies(task.y_test, direct.f_test)["mean_sq_delta"]) < TIGHT
    assert abs(row["s"] - direct.s) < TIGHT and sw.tree(chi).s == pytest.approx(direct.s, abs=TIGHT)
    nngp = mc.nngp(task.X, task.y, SMALL.network_spec(1.0))
    vals = sw.table[sw.table["method"] == "nngp"]["train_mean_y_delta"].to_numpy()
    assert np.allclose(vals, mc.discrepancies(task.y, nngp.f_train)["mean_y_delta"], atol=TIGHT)  # flat in χ


def test_feature_summary_rescaling_and_outlier():
    task = explore.build_task(SMALL)
    tree, msgs = explore.tree_at(task, SMALL, float(SMALL.width))
    fs = explore.feature_summary(task, SMALL, tree)
    assert not msgs
    assert fs["eig"][0] > 1.5 and np.allclose(fs["eig"][1:], fs["eig"][1:].clip(max=1.0))  # one outlier above prior
    assert fs["overlap"] > 0.9  # aligned with the all-ones Ising direction
    # THEORY §4: a best single scalar reproduces the mean predictor up to a small spectral correction
    assert fs["rescaling_gap"] < 0.05
    f_fit, _ = mc.gp_predict(fs["s_fit"] * fs["C0"], task.y, SMALL.kappa0)
    assert np.max(np.abs(f_fit - tree.f_train)) == pytest.approx(fs["rescaling_gap"] * fs["shift"], rel=1e-6)


def test_chain_errors_match_brute_force():
    rng = np.random.default_rng(1)
    y = np.sign(rng.standard_normal(7))
    chains = rng.standard_normal((50, 7))

    class R:
        chain_f_train = chains

    se = explore.chain_errors(y, R())
    per_chain = [np.mean(y * (y - c)) for c in chains]
    assert se["mean_y_delta_se"] == pytest.approx(np.std(per_chain, ddof=1) / np.sqrt(50), rel=1e-12)
    assert explore.chain_errors(y, object()) == {}


def test_prediction_summary_bound_is_conservative():
    rng = np.random.default_rng(2)
    y, f, se = np.sign(rng.standard_normal(9)), rng.standard_normal(9), np.full(9, 0.01)
    out = explore.prediction_summary(y, f, se)
    assert out["mean_y_delta_se"] == pytest.approx(0.01)  # fully correlated errors: mean(|y| se)
    assert out["mean_y_delta"] == pytest.approx(mc.discrepancies(y, f)["mean_y_delta"])


def test_run_index_roundtrip(tmp_path):
    idx = explore.RunIndex(tmp_path / "runs.jsonl")
    idx.add({"kind": "exact", "key": "a", "chi": np.float64(2.0), "v": np.arange(2)})
    idx.add({"kind": "langevin", "key": "a", "chi": 3.0})
    (tmp_path / "runs.jsonl").open("a").write("not json\n")
    assert [r["chi"] for r in idx.records(key="a")] == [2.0, 3.0]
    assert idx.records(kind="exact")[0]["v"] == [0, 1]
    assert explore.RunIndex(tmp_path / "none.jsonl").records() == []


def test_reference_run_exact_records_summary(tmp_path, monkeypatch):
    if not explore.capabilities()["exact"]:
        pytest.skip("mastcore.gibbs not installed")
    task = explore.build_task(SMALL)
    idx = explore.RunIndex(tmp_path / "runs.jsonl")
    res, rec = explore.reference_run(task, SMALL, 5.0, "exact", dict(n_chains=4, n_sweeps=40, burn_in=5),
                                     cache=False, index=idx)
    assert rec["train_mean_y_delta"] == pytest.approx(mc.discrepancies(task.y, res.f_train)["mean_y_delta"])
    assert rec["train_mean_y_delta_se"] > 0 and idx.records(key=SMALL.key())[0]["chi"] == 5.0
    assert "trace" in explore.traces(res)


def test_width_scaling_table():
    if not explore.capabilities()["exact"]:
        pytest.skip("mastcore.gibbs not installed")
    df = explore.width_scaling(SMALL.replace(P=6, D=10), [8, 16], exact_options=dict(n_chains=4, n_sweeps=40,
                                                                                     burn_in=5), cache=False)
    assert isinstance(df, pd.DataFrame) and len(df) == 2 * 2 * 2
    assert np.allclose(df["error"], np.abs(df["value"] - df["exact"]))


def test_blas_threads_context_is_reentrant():
    with explore.blas_threads(1):
        with explore.blas_threads(None):
            assert np.linalg.eigh(np.eye(3))[0].tolist() == [1.0, 1.0, 1.0]
