"""mc.sweep (Algorithm 1): warm-started sweeps equal independent per-χ solves; the table; options; caching."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mastcore as mc
from mastcore import cache

#: Warm and cold starts converge to the same saddle (the tree level's own tolerance is 1e-13).
TOL_SAME_SADDLE = 1e-10


@pytest.fixture(scope="module")
def fig2():
    X, y = mc.ising(80 + 100, 200, 0.1, seed=0)
    return X[:80], y[:80], X[80:], y[80:], mc.NetworkSpec(width=100)


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_warm_started_sweep_equals_independent_solves(fig2):
    X, y, Xs, ys, spec = fig2
    chis = np.logspace(0, 2, 12)
    calls = []
    sweep = mc.sweep(X, y, spec, chis=chis[::-1], methods=("nngp", "tree"), X_test=Xs,
                     progress=lambda done, total, info: calls.append((done, total, info)))
    np.testing.assert_allclose(sweep.chis, chis)  # sorted increasingly
    assert [c[0] for c in calls] == list(range(1, 25)) and all(c[1] == 24 for c in calls)
    np.testing.assert_allclose([c[2]["chi"] for c in calls if c[2]["method"] == "tree"], chis)
    for chi, r in zip(chis, sweep.results["tree"]):
        ref = mc.tree_level(X, y, spec.replace(chi=float(chi)), X_test=Xs, strict=True)
        np.testing.assert_allclose(r.f_train, ref.f_train, atol=TOL_SAME_SADDLE)
        np.testing.assert_allclose(r.f_test, ref.f_test, atol=TOL_SAME_SADDLE)
        np.testing.assert_allclose(r.C, ref.C, atol=TOL_SAME_SADDLE)
        assert r.converged and r.spec.chi == pytest.approx(chi)
    nngp = mc.nngp(X, y, spec, X_test=Xs)
    for r in sweep.results["nngp"]:
        np.testing.assert_array_equal(r.f_train, nngp.f_train)


def test_table_and_at(fig2):
    X, y, Xs, ys, spec = fig2
    sweep = mc.sweep(X, y, spec, chis=[1, 10, 100], methods=("nngp", "tree", "one_loop", "quadrature"), X_test=Xs,
                     y_test=ys)
    t = sweep.table
    assert list(t.columns[:2]) == ["method", "chi"] and len(t) == 12
    for col in ("train_mean_y_delta", "train_mean_sq_delta", "test_mean_y_delta", "test_mean_sq_delta",
                "train_mean_y_delta_se", "converged", "n_iter", "residual", "seconds", "flags"):
        assert col in t.columns
    tree = t[t.method == "tree"]
    assert np.all(np.diff(tree.train_mean_y_delta) < 0)  # feature learning lowers mean(y·Δ) with χ (§10)
    assert tree.converged.all() and (tree.residual < 1e-10).all()
    assert t[t.method == "tree"].train_mean_y_delta_se.isna().all()  # theories have no error bars
    # the table is the discrepancy of each result, recomputed independently here
    for m in sweep.methods:
        for chi, r in zip(sweep.chis, sweep.results[m]):
            row = t[(t.method == m) & (t.chi == chi)].iloc[0]
            assert row.test_mean_y_delta == pytest.approx(np.mean(ys * (ys - r.f_test)), abs=1e-15)
    assert sweep.at("tree", 9.0) is sweep.results["tree"][1]
    assert set(sweep.seconds) == set(sweep.methods)


def test_sampled_methods_have_error_bars(fig2):
    X, y, Xs, ys, spec = fig2
    sweep = mc.sweep(X[:10], y[:10], spec.replace(width=8), chis=[1, 8], methods=("quadrature", "exact"),
                     X_test=Xs[:5], y_test=ys[:5], options={"exact": {"n_chains": 8, "n_sweeps": 300, "burn_in": 50}})
    t = sweep.table
    ex = t[t.method == "exact"]
    assert (ex.train_mean_y_delta_se > 0).all() and (ex.test_mean_y_delta_se > 0).all()
    quad = t[t.method == "quadrature"].set_index("chi")
    for _, row in ex.iterrows():  # the exact sampler agrees with the exact quadrature within its error bar
        assert abs(row.train_mean_y_delta - quad.loc[row.chi, "train_mean_y_delta"]) < 5 * row.train_mean_y_delta_se


def test_options_reach_the_solver_and_subset_chis(fig2):
    X, y, Xs, ys, spec = fig2
    sweep = mc.sweep(X, y, spec, chis=[1, 10, 100], methods=("tree", "one_loop"),
                     options={"one_loop": {"variant": "self_consistent", "kernel_variance": False, "chis": [10]}})
    ol = sweep.results["one_loop"]
    assert ol[0] is None and ol[2] is None and ol[1].variant == "self_consistent" and ol[1].kernel_variance is None
    assert list(sweep.table[sweep.table.method == "one_loop"].chi) == [10.0]
    assert ol[1].tree is sweep.results["tree"][1]  # the one loop starts from the tree level at the same χ


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(methods=("tree", "bogus")), "'methods'"),
        (dict(chis=[]), "'chis'"),
        (dict(chis=[1, -2]), "'chis'"),
        (dict(chis=[1, float("nan")]), "'chis'"),
        (dict(chis=[0.5, 2]), "'chis'"),
        (dict(options={"one_loop": {"kernel_varianse": False}}, methods=("one_loop",)), "kernel_varianse"),
        (dict(options={"tree": {"n_particles": 10}}), "n_particles"),  # a particle option on a linear net
        (dict(options={"exact": {}}), "not run"),
        (dict(options={"tree": {"chis": [3]}}), "subset"),
        (dict(methods=("langevin",), options={"langevin": {"steps_": 10}}), "steps_"),
        (dict(spec=mc.NetworkSpec(activation="erf"), methods=("quadrature",)), "activation"),  # linear only
        (dict(spec="not a spec"), "'spec'"),
    ],
)
def test_bad_arguments(fig2, kw, match):
    X, y, Xs, ys, spec = fig2
    args = {"chis": [1, 2], "spec": spec, **kw}
    with pytest.raises(ValueError, match=match):
        mc.sweep(X, y, **args)


def test_anneal_is_a_name_for_sweep(fig2):
    X, y, Xs, ys, spec = fig2
    a = mc.anneal(X, y, spec, [1, 10], methods=("tree",))
    b = mc.sweep(X, y, spec, chis=[1, 10], methods=("tree",))
    np.testing.assert_array_equal(a.results["tree"][1].f_train, b.results["tree"][1].f_train)
    with pytest.raises(TypeError, match="kernel_varianse"):
        mc.anneal(X, y, spec, [1, 10], kernel_varianse=False)


def test_erf_sweep_warm_starts_the_neuron_law(fig2):
    X, y, Xs, ys, _ = fig2
    spec = mc.NetworkSpec(width=30, activation="erf", kappa0=0.25, g_v=1.0, g_w=1.0)
    sweep = mc.sweep(X[:20, :30], y[:20], spec, chis=[1, 5, 30], methods=("nngp", "tree", "rescaled"))
    for chi, r in zip(sweep.chis, sweep.results["tree"]):
        assert r.converged and r.spec.chi == chi
        cold = mc.tree_level(X[:20, :30], y[:20], spec.replace(chi=float(chi)))
        np.testing.assert_allclose(r.f_train, cold.f_train, atol=1e-6)


def test_cached_sweep_is_one_entry_and_resumes_sampled_points(fig2, cache_dir):
    X, y, Xs, ys, spec = fig2
    X, y, spec = X[:10], y[:10], spec.replace(width=8)
    opts = {"exact": {"n_chains": 4, "n_sweeps": 60, "burn_in": 10}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        first = mc.sweep(X, y, spec, chis=[1, 4, 8], methods=("tree", "exact"), options=opts, cache=True)
        functions = cache.cache_info()["functions"]
        assert functions["mastcore.engine._deterministic"]["entries"] == 1
        assert functions["mastcore.posterior.gibbs.exact_posterior"]["entries"] == 3
        # a sweep killed after its first point resumes: the finished points are read back, not recomputed
        again = mc.sweep(X, y, spec, chis=[1, 4, 8, 6], methods=("exact",), options=opts, cache=True)
    assert cache.cache_info()["functions"]["mastcore.posterior.gibbs.exact_posterior"]["entries"] == 4
    np.testing.assert_array_equal(again.at("exact", 8).f_train, first.at("exact", 8).f_train)


def test_backend_gives_the_same_numbers(fig2):
    X, y, Xs, ys, spec = fig2
    X, y, spec = X[:10], y[:10], spec.replace(width=8)
    opts = {"exact": {"n_chains": 4, "n_sweeps": 60, "burn_in": 10}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        seq = mc.sweep(X, y, spec, chis=[1, 8], methods=("exact",), options=opts)
        thr = mc.sweep(X, y, spec, chis=[1, 8], methods=("exact",), options=opts, backend={"name": "threading",
                                                                                            "n_jobs": 2})
    for a, b in zip(seq.results["exact"], thr.results["exact"]):
        np.testing.assert_array_equal(a.f_train, b.f_train)
