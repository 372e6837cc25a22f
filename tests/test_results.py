"""The result protocol (mastcore/results.py) and the summaries built on it (mastcore/metrics.summarize)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import mastcore as mc

PROTOCOL = ("f_train", "f_test", "se_train", "se_test", "converged", "n_iter", "residual", "seconds", "method",
            "spec", "flags")


@pytest.fixture(scope="module")
def problem():
    X, y = mc.ising(12, 10, 0.1, seed=1)
    Xs, ys = mc.ising(6, 10, 0.1, seed=2)
    return X, y, Xs, ys


def _results(problem):
    X, y, Xs, _ = problem
    lin = mc.NetworkSpec(width=8, chi=2.0)
    erf = mc.NetworkSpec(width=8, chi=2.0, activation="erf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            mc.nngp(X, y, lin, Xs), mc.tree_level(X, y, lin, Xs), mc.tree_level(X, y, erf, Xs),
            mc.one_loop(X, y, lin, Xs), mc.rescaled_kernel(X, y, erf, Xs), mc.posterior_quadrature(X, y, lin, Xs),
            mc.exact_posterior(X, y, lin, Xs, n_chains=4, n_sweeps=40, burn_in=5),
            mc.train_langevin(X, y, lin, Xs, options=mc.LangevinOptions(ensemble=4, steps=60, burn_in=10)),
        ]


def test_every_solver_returns_the_protocol(problem):
    results = _results(problem)
    methods = [r.method for r in results]
    assert methods == ["nngp", "tree", "tree", "one_loop", "rescaled", "quadrature", "exact", "langevin"]
    for r in results:
        assert isinstance(r, mc.Result)
        for name in PROTOCOL:
            assert hasattr(r, name), (r.method, name)
        assert r.f_train.shape == (12,) and r.f_test.shape == (6,)
        assert isinstance(r.flags, tuple) and isinstance(r.converged, bool) and r.seconds >= 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.method = "other"
        sampled = r.method in ("exact", "langevin")
        assert isinstance(r, mc.SampledResult) == sampled
        assert (r.se_train is not None) == sampled  # theories carry no error bars
        if sampled:  # one trace shape for every sampler: (records, chains)
            v = r.trace.values["mean_y_delta"]
            assert v.shape == (r.trace.steps.size, r.chain_f_train.shape[0])
            assert r.residual == pytest.approx(r.r_hat - 1.0)


def test_summarize_standard_errors_equal_the_spread_over_chains(problem):
    X, y, Xs, ys = problem
    r = mc.exact_posterior(X, y, mc.NetworkSpec(width=8, chi=2.0), Xs, n_chains=6, n_sweeps=60, burn_in=5)
    out = mc.summarize(r, y, ys)
    per_chain = [np.mean(y * (y - c)) for c in r.chain_f_train]  # brute force, chain by chain
    assert out["train_mean_y_delta_se"] == pytest.approx(np.std(per_chain, ddof=1) / np.sqrt(6), rel=1e-12)
    per_test = [np.mean((ys - c) ** 2) for c in r.chain_f_test]
    assert out["test_mean_sq_delta_se"] == pytest.approx(np.std(per_test, ddof=1) / np.sqrt(6), rel=1e-12)
    assert out["train_mean_y_delta"] == pytest.approx(mc.discrepancies(y, r.f_train)["mean_y_delta"])
    # a linear functional's s.e. from the result itself agrees (mean(y·Δ) has weights −y/P)
    assert r.se_of(-y / y.size) == pytest.approx(out["train_mean_y_delta_se"], rel=1e-12)


def test_summarize_theory_has_nan_errors_and_missing_test(problem):
    X, y, _, _ = problem
    r = mc.tree_level(X, y, mc.NetworkSpec(width=8))
    out = mc.summarize(r, y)
    assert np.isnan(out["train_mean_y_delta_se"]) and np.isnan(out["test_mean_y_delta"])
    assert out["train_error01"] == pytest.approx(np.mean(np.sign(r.f_train) != np.sign(y)))


def test_trace_kept_and_chain_mean():
    steps = np.arange(10)
    vals = np.arange(30, dtype=float).reshape(10, 3)
    tr = mc.Trace(steps=steps, values={"mean_y_delta": vals}, burn_in=4)
    np.testing.assert_array_equal(tr.kept(), vals[4:].T)
    np.testing.assert_array_equal(tr.chain_mean(), vals.mean(axis=1))
