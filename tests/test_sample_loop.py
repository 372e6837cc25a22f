"""The one loop around a saddle in the sample representation (docs/theory.md §12.10) against the dense m×m path of
§12.2 on the same samples: the estimate, every jackknife replicate and so the jackknife error, the test set and
the kernel variance."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mastcore as mc
from mastcore.theory.loops import cumulants as cumulant_loop
from mastcore.theory.loops.cumulants import SampleLoop, SymBasis, jackknife_core, sample_jackknife_core
from mastcore.theory.tree.neuron_law import FeatureSamples, law_problem, sample_gaussian
from mastcore.theory.tree.level import nonlinear_tree_level
from mastcore.theory._defaults import LOOP_BYTES, SAMPLE_ARRAYS, choose_representation
from mastcore.theory.loops.nonlinear import saddle_one_loop

#: The two representations are the same algebra (push-through and Woodbury identities): round-off only.
TOL_EXACT = 1e-10
KEYS = ("delta_shift", "delta_fluct", "dC", "f_test", "delta_shift_test", "delta_fluct_test")


def _samples(act, P, S, *, D=7, g_w=1.3, seed=3):
    rng = np.random.default_rng(seed)
    X, y, Xs = rng.standard_normal((P, D)), np.sign(rng.standard_normal(P)), rng.standard_normal((5, D))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # χ > N on purpose: a strong tilt
        spec = mc.NetworkSpec(width=15, chi=20.0, kappa0=0.3, g_v=1.0, g_w=g_w, activation=act)
    s = sample_gaussian(law_problem(X, spec, Xs), act, S, np.random.default_rng(1), with_test=True)
    # labels 0..S−1 mod 8: groups of unequal size when 8 ∤ S (two jackknife scales λ)
    s = FeatureSamples(s.phi, s.phi_test, np.arange(S))
    C = spec.g_w * s.phi.T @ s.phi / S + 0.1 * np.eye(P)
    return s, C, y, spec


def _close(a, b, keys=KEYS):
    for k in keys:
        scale = max(1.0, float(np.max(np.abs(a[k]))))
        assert np.max(np.abs(a[k] - b[k])) < TOL_EXACT * scale, k


@pytest.mark.parametrize("act,P,S", [("erf", 6, 301), ("relu", 9, 500), ("linear", 7, 403), ("erf", 24, 190),
                                     ("relu", 40, 250)])
def test_sample_representation_equals_the_dense_jackknife(act, P, S):
    """S > m (small P) and S < m (P = 24, 40): the full estimate, the kernel variance and each delete-one-group
    replicate (Schur downdates, two λ) equal the dense path's; φ = id ("linear") included."""
    s, C, y, spec = _samples(act, P, S)
    Ct = spec.g_w * s.phi_test.T @ s.phi / S
    args = (C, y, spec.chi, spec.kappa0, s, spec.g_w, spec.width)
    dense, dense_reps, G = jackknife_core(SymBasis(P), *args, C_test=Ct)
    smp, smp_reps, G2 = sample_jackknife_core(*args, C_test=Ct, variance=True)
    assert G == G2 == 8 and len(smp_reps) == 8
    _close(dense, smp, KEYS + ("var",))
    for a, b in zip(dense_reps, smp_reps):
        _close(a, b)
    assert np.max(np.abs(dense["delta_shift"])) > 1e-4 and np.max(np.abs(dense["delta_fluct"])) > 1e-4
    assert np.all(np.isfinite(smp["var"])) and np.all(np.diag(smp["var"]) > 0)


def test_replicates_solved_afresh_equal_the_downdates(monkeypatch):
    """Where I − λT is not positive definite each replicate is factorised afresh; that path equals the downdate."""
    s, C, y, spec = _samples("erf", 10, 203)
    groups = np.asarray(s.group) % 8
    labels = np.unique(groups)
    loop = SampleLoop(s.phi, C, y, spec.chi, spec.kappa0, spec.g_w, spec.width, phi_test=s.phi_test)
    Ct = spec.g_w * s.phi_test.T @ s.phi / s.n
    down = loop.replicates(groups, labels, C_test=Ct)
    inverse = cumulant_loop._inverse
    calls = []

    def not_pd_once(A):  # the first call factorises I − λT: report it as not positive definite
        M, ok = inverse(A)
        calls.append(A.shape[0])
        return M, ok and len(calls) > 1

    monkeypatch.setattr(cumulant_loop, "_inverse", not_pd_once)
    fresh = loop.replicates(groups, labels, C_test=Ct)
    assert len(calls) > 2  # the fresh factorisations ran
    for a, b in zip(down, fresh):
        _close(a, b)


def test_positive_definiteness_and_its_ratio_match_the_dense_check():
    """A strong positive part of L'' (½ R⊗R with a tiny κ0, N = 1) makes I − T indefinite: G_CC then has a negative
    eigenvalue and the sample representation reports the same ratio λ_min/λ_max as the dense eigenvalues."""
    s, C, y, spec = _samples("erf", 5, 60, g_w=1.0)
    C = s.phi.T @ s.phi / s.n + 1e-3 * np.eye(5)
    for N in (15, 1):
        loop = SampleLoop(s.phi, C, y, 1.0, 1e-3, 1.0, N)
        out = loop.core(check=True)
        dense = cumulant_loop.cumulant_core(SymBasis(5), C, y, 1.0, 1e-3,
                                            cumulant_loop.SampleCumulants(SymBasis(5), s.phi, 1.0, N), check=True)
        if N == 15:
            assert out["positive"] and out["min_eig"] == 0.0 and dense["min_eig"] > -1e-10
        else:
            assert not out["positive"] and dense["min_eig"] < -1e-2
            assert out["min_eig"] == pytest.approx(dense["min_eig"], rel=1e-8)


@pytest.mark.parametrize("act,ansatz", [("erf", "gaussian"), ("relu", "gaussian_mean")])
def test_saddle_one_loop_is_the_same_in_both_representations(act, ansatz):
    """Same seed, same samples: representation="samples" and "dense" give the same prediction, jackknife error bars
    (train and test), Monte-Carlo ratio and kernel variance."""
    task = mc.make_task(mc.TaskSpec(name="teacher_student", P=14, D=8, P_test=6, teacher="erf", seed=2))
    spec = mc.NetworkSpec(width=30, chi=10.0, kappa0=0.25, activation=act)
    tree = nonlinear_tree_level(task.X, task.y, spec, task.X_test, ansatz=ansatz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.LoopBreakdownWarning)
        r = {m: saddle_one_loop(task.X, task.y, spec, task.X_test, tree=tree, n_samples=320, max_samples=640,
                                seed=4, representation=m) for m in ("samples", "dense")}
    a, b = r["samples"], r["dense"]
    assert a.n_samples == b.n_samples and a.flags == b.flags
    for k in ("f_train", "f_test", "se_train", "se_test", "delta_shift", "delta_fluct", "delta_C", "kernel_variance",
              "chain_f_train", "chain_f_test"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=0, atol=TOL_EXACT, err_msg=k)
    assert a.mc_se == pytest.approx(b.mc_se, rel=1e-8) and np.all(a.se_train > 0)


def test_representation_is_the_cheaper_one_that_fits():
    assert choose_representation(20, 8000) == "dense"  # m = 210
    assert choose_representation(300, 8000) == "samples"  # m = 45150: m×m does not fit
    assert choose_representation(300, 40000) is None  # neither fits
    assert choose_representation(80, 160000) == "dense"  # S×S does not fit
    assert SAMPLE_ARRAYS * 8.0 * 8000**2 <= LOOP_BYTES


def test_bad_representation_and_too_many_samples_are_refused():
    task = mc.make_task(mc.TaskSpec(name="teacher_student", P=8, D=6, P_test=2, teacher="erf", seed=2))
    spec = mc.NetworkSpec(width=30, chi=10.0, kappa0=0.25, activation="erf")
    with pytest.raises(ValueError, match="'representation'"):
        saddle_one_loop(task.X, task.y, spec, representation="cholesky")
    tree = nonlinear_tree_level(task.X, task.y, spec, ansatz="gaussian")
    with pytest.raises(ValueError, match="'n_samples'"):
        saddle_one_loop(task.X, task.y, spec, tree=tree, representation="samples", n_samples=20000)


def test_identity_in_the_sample_representation_matches_the_linear_one_loop():
    """φ = id sampled from the (Gaussian) tree law, in the sample representation: the exact linear one loop of
    docs/theory.md §6 within the Monte-Carlo error (4.5 s.e. per point, family-wise over 6 points)."""
    from reference.brute_one_loop import small_problem

    X, y = small_problem(6, 9, 2)
    spec = mc.NetworkSpec(width=30, chi=1.0, kappa0=0.3, g_v=1.0, g_w=1.0, activation="linear")
    exact = mc.one_loop(X, y, spec, variant="perturbative")
    tree = nonlinear_tree_level(X, y, spec, ansatz="gaussian")
    r = saddle_one_loop(X, y, spec, tree=tree, n_samples=3000, max_samples=3000, seed=2, representation="samples",
                        kernel_variance=False)
    assert r.kernel_variance is None
    assert np.max(np.abs(r.delta - exact.delta) / r.se_train) < 4.5
    assert np.max(np.abs(r.delta_shift + r.delta_fluct)) > 10 * np.max(r.se_train)  # a resolved correction
