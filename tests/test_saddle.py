"""Tree level (docs/theory.md §4, §8, §11): stationarity, limits, the rescaling identities, Σ_v, D < P.

Each check uses a formula evaluated here independently of the solver's internals: the (T1)/(T2) stationarity
equations in the P-space form, the weight-space form g_w X Σ_v Xᵀ = C with Σ_v built from C alone, the NNGP
limit, the GP(s·K) identities, and numpy's pseudo-inverse.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mastcore as mc
from mastcore.theory.tree import linear as saddle
from mastcore._linalg import gp_predict, row_space
from mastcore.theory.kernels.nngp import linear_kernel

#: Stationarity tolerance of docs/theory.md §8.1.
TOL_STATIONARY = 1e-10
#: Identities that hold exactly at the solution (rounding only).
TOL_EXACT = 1e-12
CHIS_FIG2 = (1, 2, 5, 10, 20, 50, 100)


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


@pytest.fixture(scope="module")
def fig2():
    """The paper's Fig.-2 setting: Ising P = 80, D = 200, N = 100, κ0 = 1, g_v = g_w = 0.5, p = 0.1."""
    task = mc.make_task(mc.TaskSpec(name="ising", P=80, P_test=200, D=200, p=0.1, seed=0))
    return task, mc.NetworkSpec(width=100, chi=1.0, g_v=0.5, g_w=0.5, kappa0=1.0)


def stationarity(X, y, spec, C):
    """max |C − g_w X Σ_v Xᵀ| with Σ_v⁻¹ = (D/g_v) I − (χ g_w/N) u uᵀ + (g_w/N) Xᵀ R X (docs/theory.md §4, weight space).

    Needs only C (no C0⁻¹), so it also checks rank-deficient X; relative to max|C|.
    """
    P, D = X.shape
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    R = np.linalg.inv(C + k0 * np.eye(P))
    u = X.T @ (R @ y)
    prec = (D / spec.g_v) * np.eye(D) - (chi * spec.g_w / N) * np.outer(u, u) + (spec.g_w / N) * X.T @ R @ X
    C_w = spec.g_w * X @ np.linalg.solve(prec, X.T)
    return np.max(np.abs(C_w - C)) / np.max(np.abs(C))


@pytest.fixture(scope="module")
def fig2_sweep(fig2):
    task, spec = fig2
    return {chi: mc.tree_level(task.X, task.y, spec.replace(chi=float(chi)), X_test=task.X_test, strict=True)
            for chi in CHIS_FIG2}


@pytest.mark.parametrize("chi", CHIS_FIG2)
def test_fig2_residuals(fig2, fig2_sweep, chi):
    task, spec = fig2
    r = fig2_sweep[chi]
    spec = spec.replace(chi=float(chi))
    assert r.converged and r.residual < TOL_STATIONARY and r.n_roots >= 1
    # (T1)+(T2) in P space: C − C0 − (2/N) C C̃ C0 = 0 with C̃ = (χ/2) a aᵀ − R/2, a = R y
    C0 = linear_kernel(task.X, task.X, spec)
    R = np.linalg.inv(r.C + np.eye(80))
    a = R @ task.y
    Ct = 0.5 * chi * np.outer(a, a) - 0.5 * R
    assert np.max(np.abs(r.C - C0 - (2 / spec.width) * r.C @ Ct @ C0)) < TOL_STATIONARY
    np.testing.assert_allclose(r.a, a, atol=TOL_STATIONARY)
    np.testing.assert_allclose(r.f_train, task.y - a, atol=TOL_STATIONARY)  # f = y − κ0 a
    assert stationarity(task.X, task.y, spec, r.C) < TOL_STATIONARY


def test_fig2_trend(fig2, fig2_sweep):
    # docs/theory.md §10: mean(y·Δ) falls with χ (0.0706 → 0.0271 on the paper's draw) while NNGP stays flat
    task, spec = fig2
    d = [np.mean(task.y * (task.y - fig2_sweep[c].f_train)) for c in CHIS_FIG2]
    assert np.all(np.diff(d) < 0)
    d_nngp = np.mean(task.y * (task.y - mc.nngp(task.X, task.y, spec).f_train))
    assert 0.9 * d_nngp < d[0] < d_nngp and d[-1] < 0.5 * d_nngp


def test_chi1_approaches_nngp_like_1_over_N():
    # docs/theory.md §8.1: at χ = 1, |f_tree − f_NNGP| ∝ 1/N; fitted log-log slope within −1 ± 0.1 over N = 1e2…1e5
    X, y = mc.ising(80, 200, 0.1, seed=0)
    widths = np.logspace(2, 5, 7)
    f0 = mc.nngp(X, y, mc.NetworkSpec(width=100)).f_train
    errs = [np.max(np.abs(mc.tree_level(X, y, mc.NetworkSpec(width=int(N)), strict=True).f_train - f0))
            for N in widths]
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert abs(slope + 1) < 0.1, (slope, errs)


def test_test_predictions_are_pinv_extension(fig2, fig2_sweep):
    # docs/theory.md §2: f(X*) = X* X⁺ f(X) for every method of a linear net
    task, spec = fig2
    ext = task.X_test @ np.linalg.pinv(task.X)
    for r in fig2_sweep.values():
        np.testing.assert_allclose(r.f_test, ext @ r.f_train, atol=1e-10)
    g = mc.nngp(task.X, task.y, spec, X_test=task.X_test)  # NNGP's own kernel-based f_test
    np.testing.assert_allclose(g.f_test, ext @ g.f_train, atol=1e-10)


@pytest.mark.parametrize("chi", [1.0, 10.0, 100.0])
def test_rescaling_variant_is_gp_of_s_C0(fig2, chi):
    # docs/theory.md §4: without the log-det term f_tree = GP(s·C0) exactly, s the largest root of the scalar equation
    task, spec = fig2
    spec = spec.replace(chi=chi)
    r = mc.tree_level(task.X, task.y, spec, X_test=task.X_test, variant="rescaling", strict=True)
    C0 = linear_kernel(task.X, task.X, spec)
    f, f_test = gp_predict(r.s * C0, task.y, spec.kappa0, r.s * linear_kernel(task.X_test, task.X, spec))
    np.testing.assert_allclose(r.f_train, f, atol=TOL_EXACT)
    np.testing.assert_allclose(r.f_test, f_test, atol=1e-11)
    A = np.linalg.inv(r.s * C0 + spec.kappa0 * np.eye(80))
    s_closed = 1 / (1 - (chi / spec.width) * task.y @ A @ C0 @ A @ task.y)
    assert r.s == pytest.approx(s_closed, rel=1e-12)
    np.testing.assert_allclose(r.K_B, C0, atol=TOL_EXACT)


@pytest.mark.parametrize("chi", [1, 10, 100])
def test_full_variant_is_gp_of_s_KB(fig2_sweep, fig2, chi):
    # docs/theory.md §4: f_tree = s K_B (s K_B + κ0)⁻¹ y, s = 1/(1 − (χ/N) aᵀ K_B a), K_B = (C0⁻¹ + R/N)⁻¹
    task, spec = fig2
    r = fig2_sweep[chi]
    f, _ = gp_predict(r.s * r.K_B, task.y, 1.0)
    np.testing.assert_allclose(r.f_train, f, atol=TOL_EXACT)
    assert r.s == pytest.approx(1 / (1 - (chi / 100) * r.a @ r.K_B @ r.a), rel=1e-10)
    C0 = linear_kernel(task.X, task.X, spec)
    R = np.linalg.inv(r.C + np.eye(80))
    np.testing.assert_allclose(r.K_B, np.linalg.inv(np.linalg.inv(C0) + R / 100), atol=1e-9)


@pytest.mark.parametrize("chi", [1, 100])
def test_sigma_v_outlier(fig2, fig2_sweep, chi):
    task, spec = fig2
    r = fig2_sweep[chi]
    D, prior = 200, 0.5 / 200
    eig, vecs = r.sigma_v_eigh()
    lam, v = r.top_direction()
    u = task.X.T @ r.a
    assert abs(v @ u) / np.linalg.norm(u) > 0.99  # docs/theory.md §4/§10: top eigenvector along u = Xᵀa
    assert eig[0] > prior * 1.01 and eig[1] <= prior * (1 + 1e-12)  # exactly one eigenvalue above g_v/D
    C0 = linear_kernel(task.X, task.X, spec)
    predicted = prior / (1 - (chi / 100) * r.a @ C0 @ r.a)  # (g_v/D)/(1 − (χ/N) aᵀC0a), up to O(1/N)
    assert lam == pytest.approx(predicted, rel=0.05)
    Sv = r.sigma_v
    assert Sv.shape == (D, D)
    np.testing.assert_allclose(np.linalg.eigvalsh(Sv)[::-1], eig, atol=1e-15)
    np.testing.assert_allclose(0.5 * task.X @ Sv @ task.X.T, r.C, atol=1e-10)  # g_w X Σ_v Xᵀ = C


def test_sigma_v_outlier_grows_with_chi(fig2_sweep):
    tops = [fig2_sweep[c].top_direction()[0] for c in CHIS_FIG2]
    assert np.all(np.diff(tops) > 0)
    assert 2.0 < tops[-1] / (0.5 / 200) < 4.0  # docs/theory.md §10: ≈ 3 g_v/D at χ = 100


# --- D < P (docs/theory.md §11) ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rank_deficient():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 5))
    y = np.sign(X @ rng.standard_normal(5) + 0.3 * rng.standard_normal(12))
    return X, y, rng.standard_normal((4, 5))


@pytest.mark.parametrize("chi", [1.0, 7.0, 50.0])
def test_rank_deficient_stationary(rank_deficient, chi):
    X, y, Xs = rank_deficient
    spec = mc.NetworkSpec(width=50, chi=chi, kappa0=0.5)
    r = mc.tree_level(X, y, spec, X_test=Xs, strict=True)
    assert r.converged and np.linalg.matrix_rank(r.C) == 5
    assert stationarity(X, y, spec, r.C) < TOL_STATIONARY
    np.testing.assert_allclose(r.a, np.linalg.solve(r.C + 0.5 * np.eye(12), y), atol=1e-12)
    np.testing.assert_allclose(r.f_test, Xs @ np.linalg.pinv(X) @ r.f_train, atol=1e-10)
    np.testing.assert_allclose(spec.g_w * X @ r.sigma_v @ X.T, r.C, atol=1e-10)
    f, _ = gp_predict(r.s * r.K_B, y, 0.5)
    np.testing.assert_allclose(r.f_train, f, atol=TOL_EXACT)


def test_rank_deficient_rescaling_variant(rank_deficient):
    X, y, _ = rank_deficient
    spec = mc.NetworkSpec(width=50, chi=20.0, kappa0=0.5)
    r = mc.tree_level(X, y, spec, variant="rescaling", strict=True)
    f, _ = gp_predict(r.s * linear_kernel(X, X, spec), y, 0.5)
    np.testing.assert_allclose(r.f_train, f, atol=TOL_EXACT)


def test_row_space_reduction_matches_full_space():
    # Run the reduced-basis path (B = U) on a full-rank problem and compare with the default full-space path.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((10, 30))
    y = np.sign(rng.standard_normal(10))
    for chi in (1.0, 40.0):
        spec = mc.NetworkSpec(width=40, chi=chi, kappa0=0.7)
        full = mc.tree_level(X, y, spec, strict=True)
        rs = row_space(X)
        c = spec.g_w * spec.g_v / 30
        yr = rs.U.T @ y
        red = saddle._Reduced(B=rs.U, C0=np.diag(c * rs.S**2), y=yr, y_perp=y - rs.U @ yr)
        Cr, ar, KBr, s, *_ = saddle._tree_iteration(red.C0, red.y, 40, chi, 0.7, "full", None, 1e-14, 200)
        np.testing.assert_allclose(red.lift_matrix(Cr), full.C, atol=1e-11)
        np.testing.assert_allclose(y - 0.7 * red.lift_a(ar, 0.7), full.f_train, atol=1e-11)
        assert s == pytest.approx(full.s, rel=1e-11)


def test_large_problem_tridiagonal_path():
    # r >= _TRIDIAG_MIN takes the sytrd/stemr route for K_B's spectrum; it must agree with a dense eigh solve
    X, y = mc.ising(saddle._TRIDIAG_MIN + 10, 400, 0.1, seed=3)
    spec = mc.NetworkSpec(width=100, chi=30.0)
    r = mc.tree_level(X, y, spec, strict=True)
    assert r.residual < TOL_STATIONARY and stationarity(X, y, spec, r.C) < TOL_STATIONARY
    lam, yt, to = saddle._spectral_y(r.K_B, y)
    lam2, Q = np.linalg.eigh(r.K_B)
    np.testing.assert_allclose(lam, lam2, atol=1e-12)
    np.testing.assert_allclose(to(yt / (lam + 1.0)), Q @ ((Q.T @ y) / (lam2 + 1.0)), atol=1e-12)


# --- diagnostics and errors ------------------------------------------------------------------------------

def test_nonconvergence_warns_or_raises(fig2):
    task, spec = fig2
    spec = spec.replace(chi=50.0)
    with pytest.warns(mc.ConvergenceWarning, match="residual"):
        r = mc.tree_level(task.X, task.y, spec, max_iter=1)
    assert not r.converged and r.residual > 1e-10
    with pytest.raises(RuntimeError, match="did not converge"):
        mc.tree_level(task.X, task.y, spec, max_iter=1, strict=True)


def test_bad_arguments(fig2):
    task, spec = fig2
    with pytest.raises(ValueError, match="'variant'"):
        mc.tree_level(task.X, task.y, spec, variant="bogus")
    with pytest.raises(ValueError, match="'C_init'"):
        mc.tree_level(task.X, task.y, spec, C_init=np.eye(3))
    with pytest.raises(ValueError, match="'X_test'"):
        mc.tree_level(task.X, task.y, spec, X_test=np.zeros((0, 200)))
    with pytest.raises(ValueError, match="erf/ReLU networks only"):
        mc.tree_level(task.X, task.y, spec, n_particles=10)  # an option of another family is not ignored
    with pytest.raises(ValueError, match="'init'"):
        mc.tree_level(task.X, task.y, spec, init="previous")


def test_warm_starts_give_same_saddle(fig2):
    task, spec = fig2
    spec = spec.replace(chi=30.0)
    cold = mc.tree_level(task.X, task.y, spec, strict=True)
    warm = mc.tree_level(task.X, task.y, spec, C_init=cold.C * 1.1, strict=True)
    np.testing.assert_allclose(warm.f_train, cold.f_train, atol=1e-12)
    assert warm.n_iter <= cold.n_iter + 2
    near = mc.tree_level(task.X, task.y, spec.replace(chi=20.0), strict=True)
    from_init = mc.tree_level(task.X, task.y, spec, init=near, strict=True)
    np.testing.assert_allclose(from_init.f_train, cold.f_train, atol=1e-12)


def test_row_space_is_computed_once_per_data_set(fig2):
    task, _ = fig2
    a = row_space(task.X)
    assert row_space(task.X.copy()) is a  # keyed on content, not identity
    assert row_space(task.X + 1e-9) is not a
    with pytest.raises(ValueError):
        a.U[0, 0] = 1.0  # shared: read-only


def test_no_spurious_warnings(fig2):
    task, spec = fig2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mc.tree_level(task.X, task.y, spec.replace(chi=100.0))
