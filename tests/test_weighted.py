"""The particle saddle by weighted quasi-Monte Carlo draws (mastcore/theory/tree/weighted.py, docs/theory.md §9.4):
checked against the exact linear saddle, against independent MALA chains, warm-started against cold, its error bar
over seeds, its fallback, and its fixed-point solver."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mastcore as mc
from mastcore.theory.tree import weighted
from mastcore.theory.tree.level import nonlinear_tree_level
from mastcore.theory.tree.linear import linear_tree_level as linear_tree


def _teacher(P=12, D=8, seed=0, P_test=20):
    t = mc.make_task(mc.TaskSpec(name="teacher_student", P=P, D=D, P_test=P_test, teacher="erf", seed=seed))
    return t.X, t.y, t.X_test


def _myd(y, f):
    return float(np.mean(y * (y - f)))


def _se(y, r) -> float:
    """Reported Monte-Carlo s.e. of train mean(y·Δ): the spread of the groups' predictions over √groups."""
    m = np.mean(y * (y - r._f_blocks), axis=1)
    return float(np.std(m, ddof=1) / np.sqrt(len(m)))


def _tree(X, y, spec, Xs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        return nonlinear_tree_level(X, y, spec, Xs, ansatz="particles", **kw)


def test_linear_saddle_is_the_exact_tree_level():
    """φ = id: the tilted law is the Gaussian of §4, so the weighted saddle is the linear tree level up to the QMC
    error of its second moments — far tighter than the MALA chains (10 % in tests/test_nonlinear.py)."""
    X, y, Xs = _teacher(P=16, D=8)
    spec = mc.NetworkSpec(width=16, chi=16.0, g_v=1.0, g_w=1.0, kappa0=0.25)
    ref = linear_tree(X, y, spec, Xs)
    r = _tree(X, y, spec, Xs)
    assert r.converged and r.ess > 0.99  # the proposal is the law itself: (nearly) equal weights
    m, m_ref = _myd(y, r.f_train), _myd(y, ref.f_train)
    assert abs(m - m_ref) < 5e-3 * m_ref and abs(m - m_ref) < 5 * _se(y, r) + 1e-9, (m, m_ref, _se(y, r))
    assert np.max(np.abs(r.f_test - ref.f_test)) < 1e-2


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_weighted_saddle_agrees_with_mala_chains(activation):
    """Two independent estimators of the same law's fixed point: weighted QMC draws and MALA chains (z-test)."""
    X, y, Xs = _teacher()
    spec = mc.NetworkSpec(width=12, chi=12.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation=activation)
    w = _tree(X, y, spec, Xs, seed=1)
    m = _tree(X, y, spec, Xs, seed=1, estimator="mala")
    assert np.isfinite(w.ess) and np.isnan(m.ess) and w.converged
    z = (_myd(y, w.f_train) - _myd(y, m.f_train)) / np.hypot(_se(y, w), _se(y, m))
    assert abs(z) < 4, (z, _se(y, w), _se(y, m))
    if activation == "erf":  # the point of it for erf (ReLU's weights vary more: comparable errors here)
        assert _se(y, w) < 0.5 * _se(y, m)


def test_warm_started_saddle_equals_the_cold_one():
    """A sweep's saddle (proposal and start from the previous χ's weighted law) against a cold solve (z-test)."""
    X, y, Xs = _teacher()
    spec = mc.NetworkSpec(width=12, chi=12.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    prev = _tree(X, y, spec.replace(chi=8.0), Xs, seed=2)
    warm, cold = _tree(X, y, spec, Xs, seed=3, init=prev), _tree(X, y, spec, Xs, seed=4)
    z = (_myd(y, warm.f_train) - _myd(y, cold.f_train)) / np.hypot(_se(y, warm), _se(y, cold))
    assert abs(z) < 4, z
    assert warm.n_iter <= cold.n_iter + 5  # it starts near the answer


def test_degenerate_weights_fall_back_to_mala(monkeypatch):
    """Where no proposal gives enough effective draws the saddle is sampled by MALA chains (never a silently poor
    weighted estimate)."""
    X, y, Xs = _teacher(P=8, D=6)
    spec = mc.NetworkSpec(width=8, chi=8.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    monkeypatch.setattr(weighted, "ESS_MIN", 1.01)  # more than any set of weights can have
    r = _tree(X, y, spec, Xs, n_particles=300, outer_final=8)
    assert np.isnan(r.ess) and r._particles.shape == (300, 6)


def test_relu_cold_saddle_converges_on_its_draws():
    """ReLU at χ = N on the P = 12 teacher, cold (the Gaussian ansatz's law proposes): the pooled fixed point converges
    and the weights stay usable for every seed tried (a full first Anderson step had failed here in 4 of 6 seeds,
    degenerating the weights into the MALA fallback)."""
    X, y, Xs = _teacher()
    spec = mc.NetworkSpec(width=12, chi=12.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="relu")
    for seed in (4, 7, 12):
        r = _tree(X, y, spec, Xs, seed=seed, n_draws=8192)
        assert r._draws is not None and r.converged and r.ess > 0.3, (seed, r.ess)


def test_estimator_and_draws_are_checked():
    X, y, Xs = _teacher(P=8, D=6)
    spec = mc.NetworkSpec(width=8, chi=8.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    with pytest.raises(ValueError, match="'estimator'"):
        _tree(X, y, spec, Xs, estimator="gibbs")
    for bad in (1000, 0, "many"):  # not 8 × a power of 2; not positive; not a number
        with pytest.raises(ValueError, match="'n_draws'"):
            _tree(X, y, spec, Xs, n_draws=bad)


def test_fixed_point_solver_handles_an_oscillating_map():
    """x = Ax + b with an eigenvalue −3 (plain iteration diverges; damped iteration needs β < 0.5) and a failing
    region: Anderson mixing with restarts finds the fixed point."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ np.diag([-3.0, 0.9, 0.5, 0.0, -0.5, 0.2]) @ Q.T
    b = rng.standard_normal(6)
    x_star = np.linalg.solve(np.eye(6) - A, b)
    calls = []

    def step(x):
        calls.append(1)
        if np.max(np.abs(x)) > 1e3:
            raise np.linalg.LinAlgError("outside the domain")
        return (A @ x.ravel() + b).reshape(x.shape), None

    x, _, n_iter, res, ok = weighted.solve_fixed_point(step, np.zeros((2, 3)), tol=1e-12, max_iter=200)
    assert ok and res < 1e-12 and np.allclose(x.ravel(), x_star, atol=1e-9) and n_iter < 60


@pytest.mark.slow
def test_weighted_error_bar_is_calibrated():
    """Over 16 seeds the spread of train mean(y·Δ) matches the reported s.e. (groups of independent scrambles)."""
    X, y, Xs = _teacher()
    spec = mc.NetworkSpec(width=12, chi=12.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    runs = [_tree(X, y, spec, Xs, seed=s) for s in range(16)]
    vals = np.array([_myd(y, r.f_train) for r in runs])
    ses = np.array([_se(y, r) for r in runs])
    ratio = vals.std(ddof=1) / np.sqrt(np.mean(ses**2))
    assert 0.6 < ratio < 1.5, ratio
