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


# --- the saddle's samples started from the particle tree level (docs/theory.md §9.4, §12.10) ----------------------

@pytest.mark.parametrize("act", ["erf", "relu"])
def test_chains_started_from_the_particles_agree_with_a_full_burn_in(act):
    # the first batch of tilted samples starts its chains from the particle tree level's particles with a short
    # burn-in; started from the Gaussian with the full burn-in it must give the same loop within the Monte-Carlo
    # error (a z-test on train mean(y·Δ), the two s.e. combined; independent seeds)
    import dataclasses

    rng = np.random.default_rng(5)
    P, D = 12, 20
    X, Xs = rng.standard_normal((P, D)), rng.standard_normal((30, D))
    y = np.sign(X[:, 0] + 0.3 * rng.standard_normal(P))
    spec = mc.NetworkSpec(width=20, chi=20.0, kappa0=0.5, g_v=1.0, g_w=1.0, activation=act)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = nonlinear_tree_level(X, y, spec, Xs, ansatz="particles")
        assert tree._particles is not None and tree._particles.shape[1] == min(P, D)
        # both use this saddle: compare with the loop's own Monte-Carlo error (the saddle's is common to both); the
        # loop on fresh MALA chains (without the weighted draws, tests/test_weighted_loop.py tests those)
        tree = dataclasses.replace(tree, _f_blocks=None, _ft_blocks=None, _draws=None)
        warm = saddle_one_loop(X, y, spec, Xs, tree=tree, n_samples=4000, max_samples=4000, seed=1)
        cold = saddle_one_loop(X, y, spec, Xs, tree=dataclasses.replace(tree, _particles=None), n_samples=4000,
                               max_samples=4000, seed=2)
    myd = lambda r: float(np.mean(y * (y - r.f_train)))  # noqa: E731
    z = (myd(warm) - myd(cold)) / np.hypot(warm.mc_se, cold.mc_se)
    assert abs(z) < 4.0, z
    zt = (warm.f_test - cold.f_test) / np.hypot(warm.se_test, cold.se_test)
    assert np.sqrt(np.mean(zt**2)) < 2.0  # rms z over the test points


@pytest.mark.parametrize("act", ["erf", "relu", "gelu", "tanh"])
def test_smoothed_test_features_are_unbiased_against_sampling_the_prior_part(act):
    # E_ξ[φ(h + √q ξ)] in closed form (Activation.gauss_mean) against plain Monte Carlo over ξ: a z-test per entry
    from mastcore.theory.kernels.gaussian_law import smoothed_features

    rng = np.random.default_rng(0)
    H, q = rng.standard_normal((4, 6)), np.array([0.0, 0.05, 0.3, 1.0, 2.5, 7.0])
    phi = mc.ACTIVATIONS[act].phi
    draws = phi(H[None] + rng.standard_normal((40000, 1, 6)) * np.sqrt(q))
    se = draws.std(0, ddof=1) / np.sqrt(draws.shape[0])
    if mc.ACTIVATIONS[act].gauss_mean is None:  # no closed form: one draw of ξ per call, unbiased
        gen = np.random.default_rng(1)
        calls = np.array([smoothed_features(act, H, q, gen) for _ in range(4000)])
        got = calls.mean(0)
        se = np.hypot(se, calls.std(0, ddof=1) / np.sqrt(len(calls)))
    else:
        got = smoothed_features(act, H, q, np.random.default_rng(1))
    z = (got - draws.mean(0)) / np.maximum(se, 1e-12)
    assert np.max(np.abs(z[:, 1:])) < 4.5, z
    assert np.allclose(got[:, 0], phi(H[:, 0]))  # no prior part: φ itself


@pytest.mark.parametrize("act", ["erf", "relu", "tanh"])
def test_smoothed_feature_sums_equal_the_features_times_the_coefficients(act):
    # the blockwise sums over draws (no (M, P*) array) against the features formed whole, same noise stream
    from mastcore.theory.kernels.gaussian_law import FEATURE_ROWS, smoothed_feature_sums, smoothed_features

    rng = np.random.default_rng(5)
    M = 2 * FEATURE_ROWS + 37  # blocks and a remainder
    V, Zs = rng.standard_normal((M, 6)), rng.standard_normal((9, 6))
    s2, coef = np.abs(rng.standard_normal(9)), rng.standard_normal((M, 2))
    s2[3] = 0.0  # one test point inside the row space
    whole = smoothed_features(act, V @ Zs.T, s2, np.random.default_rng(7)).T @ coef
    sums = smoothed_feature_sums(act, V, Zs, s2, coef, np.random.default_rng(7))
    assert np.allclose(sums, whole, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_saddle_one_loop_error_bar_covers_the_particle_saddle_slow():
    # the reported s.e. of train mean(y·Δ) includes the particle saddle's Monte-Carlo error (batch means of its C,
    # docs/theory.md §12.10): over independent seeds of saddle and loop the spread of the estimate matches it
    # (measured: sd/rms(se) 1.02 and 0.67, rms z 1.29 and 0.81 over 12 seeds at this and the teaching preset; before,
    # the loop's own s.e. was 5–10× below the spread at χ = N)
    task = mc.make_task(mc.TaskSpec(P=12, P_test=40, D=20))
    spec = mc.NetworkSpec(width=20, chi=20.0, g_v=0.5, g_w=0.5, kappa0=1.0, activation="erf")
    est, se = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(16):
            tree = nonlinear_tree_level(task.X, task.y, spec, task.X_test, ansatz="particles", seed=100 + seed)
            r = saddle_one_loop(task.X, task.y, spec, task.X_test, tree=tree, seed=seed)
            est.append(float(np.mean(task.y * (task.y - r.f_train))))
            se.append(r.mc_se)
    ratio = np.std(est, ddof=1) / np.sqrt(np.mean(np.square(se)))
    assert 0.6 < ratio < 1.5, ratio
