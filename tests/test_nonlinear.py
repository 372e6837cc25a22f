"""Tests of mastcore.nonlinear_kernels and mastcore.nonlinear (docs/theory.md §9)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mastcore as mc
from mastcore import cache
from mastcore.theory.tree import nonlinear as nl
from mastcore.theory.tree.level import nonlinear_tree_level
from mastcore.theory.kernels import gaussian_law as nk
from mastcore.theory.tree.linear import linear_tree_level as linear_tree

#: Monte-Carlo agreement: |exact − MC| ≤ 4 standard errors (docs/theory.md §8.6).
MC_SIGMAS = 4.0
#: Derivatives vs central finite differences (step 1e-6 relative; truncation O(h²) ~ 1e-12, round-off ~1e-10).
FD_TOL = 1e-6
#: The Gaussian-ansatz solver with φ = id is the linear tree level of §4; both reach ~1e-13 residuals.
LINEAR_TOL = 1e-8
#: Quadrature of the non-zero-mean kernel vs the closed forms at m = 0 (q ≲ 5 here): erf's near-step integrand
#: limits it to ~1e-8 (far below the ansatz's own error, percent level); ReLU/linear reach ~1e-12.
QUAD_TOL = 1e-7


def _cov(rng, D):
    A = rng.standard_normal((D, D)) / np.sqrt(D)
    return A @ A.T / D + 0.3 * np.eye(D) / D


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_kernel_matches_monte_carlo(activation):
    rng = np.random.default_rng(1)
    D, n = 6, 5
    X = rng.standard_normal((n, D))
    Sigma = _cov(rng, D) * 3
    K = nk.kernel(X, X, Sigma, activation)
    S = 400_000
    V = rng.standard_normal((S, D)) @ np.linalg.cholesky(Sigma).T
    phi, _ = nk.activation_fn(activation)
    F = phi(V @ X.T)
    prod = F[:, :, None] * F[:, None, :]
    est = prod.mean(0)
    se = prod.std(0) / np.sqrt(S)
    z = np.abs(K - est) / se
    assert z.max() < MC_SIGMAS, (z.max(), K, est)
    # the test kernel path (distinct arrays) agrees with the train path, diagonal included
    assert np.allclose(nk.kernel(X, X.copy(), Sigma, activation), K, atol=1e-12)


def test_nngp_kernel_is_g_w_times_isotropic_kernel():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 5))
    for act in ("erf", "relu"):
        spec = mc.NetworkSpec(width=10, g_v=0.7, g_w=1.3, activation=act)
        C0 = mc.nngp_kernel(X, X, spec)
        ref = 1.3 * nk.kernel(X, X, 0.7 / 5 * np.eye(5), act)
        assert np.allclose(C0, ref, atol=1e-14)
        assert np.allclose(C0, C0.T)
        assert np.linalg.eigvalsh(C0).min() > 0
    # ReLU diagonal is q/2; erf diagonal is the arcsine formula
    assert np.allclose(np.diag(nk.kernel(X, X, 0.2, "relu")), 0.5 * 0.2 * (X**2).sum(1))


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_partial_derivatives_vs_finite_differences(activation):
    rng = np.random.default_rng(3)
    qa, qb = rng.uniform(0.3, 2.0, 20), rng.uniform(0.3, 2.0, 20)
    c = rng.uniform(-0.9, 0.9, 20) * np.sqrt(qa * qb)
    k, dc, dqa, dqb = nk.pair_kernel(c, qa, qb, activation, derivatives=True)
    h = 1e-6
    fd = lambda f: (f(h) - f(-h)) / (2 * h)  # noqa: E731
    num_c = fd(lambda e: nk.pair_kernel(c + e, qa, qb, activation))
    num_a = fd(lambda e: nk.pair_kernel(c, qa + e, qb, activation))
    num_b = fd(lambda e: nk.pair_kernel(c, qa, qb + e, activation))
    assert np.max(np.abs(num_c - dc)) < FD_TOL
    assert np.max(np.abs(num_a - dqa)) < FD_TOL
    assert np.max(np.abs(num_b - dqb)) < FD_TOL
    q = rng.uniform(0.1, 3.0, 10)
    kd, dd = nk.diag_kernel(q, activation, derivative=True)
    assert np.max(np.abs(fd(lambda e: nk.diag_kernel(q + e, activation)) - dd)) < FD_TOL
    # the diagonal is the c → q limit of the pair formula
    assert np.allclose(nk.pair_kernel(q, q, q, activation), kd, atol=1e-12)
    assert np.all(np.isfinite(dd))


@pytest.mark.parametrize("activation", ["erf", "relu", "linear"])
def test_gradient_matrix_is_the_gradient_of_the_objective(activation):
    """tr(G dM) equals the directional derivative of Σ C̃_αβ k_αβ(M) along symmetric dM (docs/theory.md §9)."""
    rng = np.random.default_rng(4)
    P, D = 6, 4
    X = rng.standard_normal((P, D))
    M = X @ _cov(rng, D) @ X.T
    Ct = rng.standard_normal((P, P))
    Ct = Ct + Ct.T
    E = rng.standard_normal((D, D))
    dM = X @ (E + E.T) @ X.T * 0.01
    G = nk.kernel_gradient_matrix(Ct, nk.gram_parts(M, activation))
    f = lambda e: np.sum(Ct * nk.gram_parts(M + e * dM, activation).K)  # noqa: E731
    h = 1e-6
    num = (f(h) - f(-h)) / (2 * h)
    assert abs(num - np.sum(G * dM)) < FD_TOL * max(1.0, abs(num))


def _teacher(P=24, D=12, seed=0, P_test=30):
    t = mc.make_task(mc.TaskSpec(name="teacher_student", P=P, D=D, P_test=P_test, teacher="erf", seed=seed))
    return t.X, t.y, t.X_test, t.y_test


@pytest.mark.parametrize("shape", [(24, 12), (12, 24)])
@pytest.mark.parametrize("chi", [1.0, 8.0, 40.0])
def test_gaussian_ansatz_with_linear_activation_is_the_linear_tree_level(shape, chi):
    P, D = shape
    X, y, Xs, _ = _teacher(P, D)
    spec = mc.NetworkSpec(width=40, chi=chi, g_v=1.0, g_w=1.0, kappa0=0.25)
    r = nonlinear_tree_level(X, y, spec, Xs, ansatz="gaussian", tol=1e-13, max_iter=5000)
    ref = linear_tree(X, y, spec, Xs)
    assert r.converged and r.residual < 1e-12
    assert np.max(np.abs(r.f_train - ref.f_train)) < LINEAR_TOL
    assert np.max(np.abs(r.f_test - ref.f_test)) < LINEAR_TOL
    assert np.max(np.abs(r.C - ref.C)) < LINEAR_TOL
    ev, _ = r.sigma_v_eigh()
    ev_ref, _ = ref.sigma_v_eigh()
    assert np.allclose(ev, ev_ref, atol=LINEAR_TOL)


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_gaussian_tree_is_stationary_point_of_J(activation):
    X, y, Xs, _ = _teacher()
    spec = mc.NetworkSpec(width=40, chi=40.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation=activation)
    r = mc.tree_level(X, y, spec, Xs, ansatz="gaussian")
    assert r.converged and r.residual < nl.GAUSSIAN_TOL and r.method == "tree"
    Sig = r.sigma_v
    J0 = nl.tree_objective(X, y, spec, Sig)
    assert abs(J0 - r.J) < 1e-8 * max(1, abs(J0))
    rng = np.random.default_rng(0)
    E = rng.standard_normal(Sig.shape)
    E = (E + E.T) * 1e-4 / Sig.shape[0]
    h = 1e-3
    dJ = (nl.tree_objective(X, y, spec, Sig + h * E) - nl.tree_objective(X, y, spec, Sig - h * E)) / (2 * h)
    # a random direction of size comparable to Σ changes J by O(N); at the stationary point the slope vanishes
    scale = abs(nl.tree_objective(X, y, spec, Sig + E) - J0) / 1.0
    assert abs(dJ) < 1e-5 * max(scale, 1.0), (dJ, scale)
    # the adapted kernel is g_w k(XΣXᵀ) and the test predictor uses the same law
    assert np.allclose(r.C, spec.g_w * nk.kernel(X, X, Sig, activation), atol=1e-10)
    Ks = spec.g_w * nk.kernel(Xs, X, Sig, activation)
    assert np.allclose(r.f_test, Ks @ np.linalg.solve(r.C + spec.kappa0 * np.eye(len(y)), y), atol=1e-10)


def test_chi_one_large_width_approaches_nngp():
    X, y, Xs, _ = _teacher()
    errs = []
    for N in (100, 1000):
        spec = mc.NetworkSpec(width=N, chi=1.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
        errs.append(np.max(np.abs(mc.tree_level(X, y, spec).f_train - mc.nngp(X, y, spec).f_train)))
    assert errs[1] < errs[0] / 5  # |f_tree − f_NNGP| ∝ 1/N (docs/theory.md §8.1)


def test_feature_learning_lowers_train_discrepancy_and_stretches_sigma():
    X, y, Xs, ys = _teacher(P=30, D=15)
    base = mc.NetworkSpec(width=30, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    m0 = np.mean(y * (y - mc.nngp(X, y, base).f_train))
    r = mc.tree_level(X, y, base.replace(chi=30.0), Xs)
    assert np.mean(y * (y - r.f_train)) < 0.7 * m0
    assert r.s > 2.0
    lam, vec = r.top_direction()
    assert abs(lam / (base.g_v / X.shape[1]) - r.s) < 1e-9 and abs(np.linalg.norm(vec) - 1) < 1e-12


def test_warm_start_and_progress_and_validation():
    X, y, Xs, _ = _teacher()
    spec = mc.NetworkSpec(width=40, chi=10.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="relu")
    calls = []
    r10 = nonlinear_tree_level(X, y, spec, ansatz="gaussian", progress=lambda d, t, i: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    r40 = nonlinear_tree_level(X, y, spec.replace(chi=40.0), ansatz="gaussian", init=r10)
    cold = nonlinear_tree_level(X, y, spec.replace(chi=40.0), ansatz="gaussian")
    assert np.max(np.abs(r40.f_train - cold.f_train)) < 1e-7
    with pytest.raises(ValueError, match="'ansatz' must be one of"):
        nonlinear_tree_level(X, y, spec, ansatz="bogus")
    with pytest.raises(ValueError, match="'C_init' applies to linear networks"):
        mc.tree_level(X, y, spec, C_init=np.eye(3))
    with pytest.raises(ValueError, match="apply to erf/ReLU"):
        mc.tree_level(X, y, spec.replace(activation="linear"), n_particles=10)


def test_non_convergence_warns_or_raises(monkeypatch):
    monkeypatch.setattr(nl, "NK_MAX_ITER", 2)  # keep the hopeless Newton–Krylov fallback short
    X, y, _, _ = _teacher()
    spec = mc.NetworkSpec(width=40, chi=40.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    # an unreachable tolerance (below double-precision round-off) cannot be met by damping nor by Newton–Krylov
    with pytest.warns(mc.ConvergenceWarning, match="residual"):
        r = nonlinear_tree_level(X, y, spec, ansatz="gaussian", max_iter=2, n_stages=1, tol=1e-30)
    assert not r.converged and r.residual > 1e-30
    with pytest.raises(RuntimeError, match="did not converge"):
        nonlinear_tree_level(X, y, spec, ansatz="gaussian", max_iter=2, n_stages=1, tol=1e-30, strict=True)


# --- non-zero-mean ansatz --------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["erf", "relu", "linear"])
def test_mean_kernel_quadrature_matches_closed_form_at_zero_mean(activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 4))
    M = X @ _cov(rng, 4) @ X.T
    K = nk.mean_gram_torch(torch.zeros(6, dtype=torch.float64), torch.as_tensor(M), activation).numpy()
    assert np.max(np.abs(K - nk.gram_parts(M, activation).K)) < QUAD_TOL


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_mean_kernel_matches_monte_carlo(activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    D, n = 5, 4
    X = rng.standard_normal((n, D))
    Sigma = _cov(rng, D) * 2
    mu = rng.standard_normal(D) * 0.4
    K = nk.mean_gram_torch(torch.as_tensor(X @ mu), torch.as_tensor(X @ Sigma @ X.T), activation).numpy()
    S = 400_000
    V = mu + rng.standard_normal((S, D)) @ np.linalg.cholesky(Sigma).T
    phi, _ = nk.activation_fn(activation)
    F = phi(V @ X.T)
    prod = F[:, :, None] * F[:, None, :]
    z = np.abs(K - prod.mean(0)) / (prod.std(0) / np.sqrt(S))
    assert z.max() < MC_SIGMAS


def test_gaussian_mean_relu_raises_J_and_erf_keeps_zero_mean():
    pytest.importorskip("torch")
    X, y, Xs, _ = _teacher(P=20, D=10)
    spec = mc.NetworkSpec(width=20, chi=20.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="relu")
    zero = nonlinear_tree_level(X, y, spec, Xs, ansatz="gaussian")
    mean = nonlinear_tree_level(X, y, spec, Xs, ansatz="gaussian_mean")
    assert mean.ansatz == "gaussian_mean" and mean.converged
    assert mean.J > zero.J + 1e-3  # docs/theory.md §9: the zero-mean Gaussian is not a maximum for ReLU
    assert np.linalg.norm(mean.mu) > 0.1 * np.sqrt(spec.g_v / X.shape[1])
    assert mean.f_test.shape == (Xs.shape[0],)
    e = nonlinear_tree_level(X, y, spec.replace(activation="erf"), ansatz="gaussian_mean")
    e0 = nonlinear_tree_level(X, y, spec.replace(activation="erf"), ansatz="gaussian")
    assert np.linalg.norm(e.mu) < 1e-6 and np.max(np.abs(e.f_train - e0.f_train)) < 1e-6
    assert mc.tree_level(X, y, spec).ansatz == "gaussian_mean"  # ReLU default


#: Closed-form non-zero-mean ReLU kernel (docs/theory.md §9.3) vs an adaptive 1-D quadrature (scipy quad, inner
#: Gaussian integral in closed form) and Genz's bivariate normal vs the same: both are exact to round-off.
CLOSED_TOL = 1e-11
#: The numpy (closed-form) and torch (quadrature, autodiff) gaussian_mean solvers both stop at tol = 1e-9 on the
#: stationarity residual; their solutions agree to about that (observed ≤ 3e-9 on predictions).
SOLVER_TOL = 1e-7


def _bvn_reference(h, k, r):
    from scipy.integrate import quad
    from scipy.special import ndtr

    s = np.sqrt(1 - r * r)
    return quad(lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi) * ndtr((r * t - k) / s), h, np.inf,
                epsabs=1e-15, epsrel=1e-13, limit=200)[0]


def test_bivariate_normal_upper_matches_quadrature():
    from mastcore.theory.kernels.closed_forms import bvn_upper

    rng = np.random.default_rng(11)
    h, k = rng.normal(size=(2, 60)) * 1.5
    r = np.concatenate([rng.uniform(-0.9, 0.9, 20), rng.uniform(0.925, 0.9999, 20), -rng.uniform(0.925, 0.9999, 20)])
    ref = np.array([_bvn_reference(*a) for a in zip(h, k, r)])
    assert np.max(np.abs(bvn_upper(h, k, r) - ref)) < CLOSED_TOL


def test_relu_mean_kernel_closed_form_matches_quadrature_and_finite_differences():
    from scipy.integrate import quad
    from scipy.special import ndtr

    from mastcore.theory.kernels.closed_forms import relu_mean_diag, relu_mean_pair

    rng = np.random.default_rng(12)
    n = 12
    ma, mb = rng.normal(size=(2, n))
    qa, qb = rng.uniform(0.1, 3, (2, n))
    rho = np.concatenate([rng.uniform(-0.9, 0.9, n - 2), [0.97, -0.97]])
    c = rho * np.sqrt(qa * qb)

    def ref(ma, qa, mb, qb, c):  # ∫ relu(h_a) E[relu(h_b) | h_a] over h_a, adaptive quadrature
        sa = np.sqrt(qa)
        mu, s = lambda t: mb + c / sa * t, np.sqrt(qb - c * c / qa)
        inner = lambda t: mu(t) * ndtr(mu(t) / s) + s * np.exp(-mu(t) ** 2 / (2 * s * s)) / np.sqrt(2 * np.pi)
        return quad(lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi) * (ma + sa * t) * inner(t), -ma / sa, 40,
                    epsabs=1e-14, epsrel=1e-13, limit=400)[0]

    got = relu_mean_pair(ma, qa, mb, qb, c)
    assert np.max(np.abs(got - np.array([ref(*a) for a in zip(ma, qa, mb, qb, c)]))) < CLOSED_TOL
    args = [ma, qa, mb, qb, c]
    _, dc, dma, dmb, dqa, dqb = relu_mean_pair(*args, derivatives=True)
    for i, d in enumerate((dma, dqa, dmb, dqb, dc)):
        up, dn = [a.copy() for a in args], [a.copy() for a in args]
        up[i] += 1e-6
        dn[i] -= 1e-6
        assert np.max(np.abs((relu_mean_pair(*up) - relu_mean_pair(*dn)) / 2e-6 - d)) < FD_TOL
    m, q = ma, qa
    k, dm, dq = relu_mean_diag(m, q, derivative=True)
    sq = np.sqrt(q)  # E[relu(h)²] = ∫_{−m/√q} (m + √q t)² φ(t) dt
    ref_d = [quad(lambda t: (mi + si * t) ** 2 * np.exp(-t * t / 2) / np.sqrt(2 * np.pi), -mi / si, 40)[0]
             for mi, si in zip(m, sq)]
    assert np.max(np.abs(k - ref_d)) < CLOSED_TOL
    assert np.max(np.abs((relu_mean_diag(m + 1e-6, q) - relu_mean_diag(m - 1e-6, q)) / 2e-6 - dm)) < FD_TOL
    assert np.max(np.abs((relu_mean_diag(m, q + 1e-6) - relu_mean_diag(m, q - 1e-6)) / 2e-6 - dq)) < FD_TOL


def test_fast_relu_gaussian_mean_equals_torch_quadrature_solver(monkeypatch):
    """The numpy closed-form path (docs/theory.md §9.3) and the torch autodiff-through-quadrature path give the same
    law; a warm start from another χ (the sweep) reaches the cold multi-start's maximum."""
    pytest.importorskip("torch")
    from mastcore.theory.tree import gaussian_mean as nm

    X, y, Xs, _ = _teacher(P=20, D=10)
    spec = mc.NetworkSpec(width=20, chi=20.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="relu")
    fast = nonlinear_tree_level(X, y, spec, Xs, ansatz="gaussian_mean")
    warm = nonlinear_tree_level(X, y, spec, Xs, ansatz="gaussian_mean",
                                   init=nonlinear_tree_level(X, y, spec.replace(chi=12.0), ansatz="gaussian_mean"))
    monkeypatch.setattr(nm, "has_mean_closed_form", lambda act: False)
    slow = nonlinear_tree_level(X, y, spec, Xs, ansatz="gaussian_mean")
    assert fast.converged and slow.converged and warm.converged
    for r in (fast, warm):
        assert abs(r.J - slow.J) < SOLVER_TOL * abs(slow.J)
        for a, b in ((r.f_train, slow.f_train), (r.f_test, slow.f_test), (r.mu, slow.mu), (r.C, slow.C)):
            assert np.max(np.abs(a - b)) < SOLVER_TOL
    assert warm.n_stages == 1 and warm.n_iter < fast.n_iter


# --- particles -------------------------------------------------------------------------------------------------


def test_particles_reproduce_linear_tree_level():
    """For φ = id the tilted neuron law is Gaussian: the particle saddle equals §4 up to Monte-Carlo error."""
    X, y, Xs, _ = _teacher(P=16, D=8)
    spec = mc.NetworkSpec(width=16, chi=16.0, g_v=1.0, g_w=1.0, kappa0=0.25)
    ref = linear_tree(X, y, spec, Xs)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        r = nonlinear_tree_level(X, y, spec, Xs, ansatz="particles", n_particles=1500, seed=1,
                                 progress=lambda d, t, i: calls.append(d))
    assert calls and r.ansatz == "particles"
    m_ref = np.mean(y * (y - ref.f_train))
    m = np.mean(y * (y - r.f_train))
    # 10 % of the discrepancy: the particle C carries a Monte-Carlo error of a few % at 1500 particles
    assert abs(m - m_ref) < 0.1 * m_ref, (m, m_ref, r.c_se)
    assert np.max(np.abs(r.f_test - ref.f_test)) < 0.1


# --- rescaled kernel -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["linear", "erf", "relu"])
def test_rescaled_kernel_maximises_objective(activation):
    X, y, Xs, _ = _teacher()
    spec = mc.NetworkSpec(width=40, chi=40.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation=activation)
    r = mc.rescaled_kernel(X, y, spec, Xs)
    C0 = mc.nngp_kernel(X, X, spec)
    P = len(y)

    def phi(u):
        A = u * C0 + spec.kappa0 * np.eye(P)
        return 0.5 * spec.width * (np.log(u) - u) - 0.5 * spec.chi * y @ np.linalg.solve(A, y) \
            - 0.5 * np.linalg.slogdet(A)[1]

    grid = np.geomspace(1e-3, 1e3, 2001)
    best = grid[np.argmax([phi(u) for u in grid])]
    assert abs(np.log(r.u / best)) < 2 * np.log(grid[1] / grid[0])
    assert phi(r.u) >= max(phi(r.u * 1.001), phi(r.u / 1.001))
    assert r.converged and r.u > 1  # χ = N: the kernel grows along the task
    A = r.u * C0 + spec.kappa0 * np.eye(P)
    assert np.allclose(r.f_train, r.u * C0 @ np.linalg.solve(A, y), atol=1e-12)
    assert np.allclose(r.f_test, r.u * mc.nngp_kernel(Xs, X, spec) @ np.linalg.solve(A, y), atol=1e-12)


def test_rescaled_kernel_large_width_is_nngp():
    X, y, _, _ = _teacher()
    spec = mc.NetworkSpec(width=10**6, chi=1.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    r = mc.rescaled_kernel(X, y, spec)
    assert abs(r.u - 1) < 1e-4
    assert np.max(np.abs(r.f_train - mc.nngp(X, y, spec).f_train)) < 1e-4


def test_nonlinear_tree_on_digits_runs_in_row_space():
    """D = 64 < P with constant pixels (rank < 64): the solver works in the row space and converges."""
    t = mc.make_task(mc.TaskSpec(name="digits", P=80, P_test=50, seed=0))
    assert t.X.shape == (80, 64)
    for act in ("linear", "erf"):
        spec = mc.NetworkSpec(width=80, chi=80.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation=act)
        r = mc.tree_level(t.X, t.y, spec, t.X_test)
        assert r.converged and np.all(np.isfinite(r.f_test))
        assert np.mean(t.y * (t.y - r.f_train)) < np.mean(t.y * (t.y - mc.nngp(t.X, t.y, spec).f_train))


def test_public_names():
    assert mc.rescaled_kernel.__module__ == "mastcore.theory.renormalised.kernel"
    assert nl.DEFAULT_ANSATZ["erf"] == "gaussian" and nl.DEFAULT_ANSATZ["relu"] == "gaussian_mean"


def test_particles_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    X, y, Xs, _ = _teacher(P=10, D=6)
    spec = mc.NetworkSpec(width=10, chi=5.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="erf")
    opts = dict(ansatz="particles", n_particles=200, seed=3, outer_final=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        a = mc.tree_level(X, y, spec, Xs, cache=True, **opts)
        b = mc.tree_level(X, y, spec, Xs, cache=True, progress=lambda *x: None, **opts)
        c = nonlinear_tree_level(X, y, spec, Xs, **opts)
    assert np.array_equal(a.f_train, b.f_train) and np.array_equal(a.f_test, b.f_test)
    assert np.array_equal(a.f_train, c.f_train)  # deterministic in the seed
    assert any(tmp_path.rglob(cache.RESULT))


def test_newton_krylov_fallback_finds_the_same_fixed_point():
    """The fallback used when damping stalls (unstable direction of the map) solves the same stationarity equation."""
    X, y, _, _ = _teacher(P=16, D=8)
    spec = mc.NetworkSpec(width=16, chi=16.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation="relu")
    r = nonlinear_tree_level(X, y, spec, ansatz="gaussian", tol=1e-12)
    pb = nl._problem(X, y, spec, None)
    Lam = np.linalg.inv(r._cov_row)
    start = Lam + 0.05 * np.diag(np.diag(Lam))  # 5 % off the solution
    L2, res, _ = nl._newton_krylov(start, pb, 16.0, "relu", 1e-12)
    assert res < 1e-10 and np.max(np.abs(L2 - Lam)) < 1e-8 * np.max(np.abs(Lam))
