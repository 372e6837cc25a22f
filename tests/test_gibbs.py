"""Exact posterior sampler (docs/theory.md §7) against independent references.

References: (i) P = 1, where C = C0 χ²_N / N and ⟨f⟩ is a one-dimensional integral (scipy quadrature);
(ii) a naive Gibbs sampler written here in the full weight space (no row-space reduction, no symmetry reduction,
direct Gaussian conditionals of w and of vec(V), plain estimator f = X Vᵀ w); (iii) the limits χ = 1, N → ∞
(NNGP) and χ = N, N → ∞ (tree level, error ∝ 1/N). Statistical comparisons use Z_MAX standard errors.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import mastcore as mc
from mastcore.metrics import split_rhat
from mastcore.posterior.gibbs import PosteriorResult, exact_posterior
from mastcore.posterior.quadrature import posterior_quadrature

#: Statistical agreement threshold in standard errors (a 4-s.e. miss has probability ~6e-5 per comparison).
Z_MAX = 4.0


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


# --- references ----------------------------------------------------------------------------------------

def quad_p1(x, y, spec):
    """⟨f(x)⟩ for P = 1 by quadrature: C = C0 Q/N, Q ~ χ²_N, weight exp(−χy²/(2(C+κ0)))/√(C+κ0) (docs/theory.md §2)."""
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    C0 = spec.g_w * spec.g_v * float(x @ x) / x.size

    def logp(u):  # u = log Q (Jacobian e^u)
        Q = np.exp(u)
        C = C0 * Q / N
        return stats.chi2.logpdf(Q, N) + u - chi * y**2 / (2 * (C + k0)) - 0.5 * np.log(C + k0)

    u0 = optimize.minimize_scalar(lambda u: -logp(u), bracket=(np.log(N) - 1, np.log(N) + 1)).x
    h = 1e-4
    sig = 1 / np.sqrt(-(logp(u0 + h) - 2 * logp(u0) + logp(u0 - h)) / h**2)
    lo, hi = u0 - 40 * sig, u0 + 40 * sig
    w = lambda u: np.exp(logp(u) - logp(u0))  # noqa: E731
    kw = dict(points=[u0], epsabs=0, epsrel=1e-12, limit=200)
    Z = integrate.quad(w, lo, hi, **kw)[0]
    m = integrate.quad(lambda u: w(u) * (C0 * np.exp(u) / N) / (C0 * np.exp(u) / N + k0), lo, hi, **kw)[0]
    return y * m / Z


def naive_gibbs(X, y, spec, X_test, *, n_chains, n_sweeps, burn_in, seed):
    """Textbook blocked Gibbs in the full space: w | V and vec(V) | w from their Gaussian conditionals.

    Returns (f_train, se_train, f_test, se_test) from the plain estimator f = X Vᵀ w (no Rao–Blackwellisation).
    """
    rng = np.random.default_rng(seed)
    P, D = X.shape
    N, chi, k0, gv, gw = spec.width, spec.chi, spec.kappa0, spec.g_v, spec.g_w
    B = n_chains
    V = rng.normal(0.0, np.sqrt(gv / D), (B, N, D))
    XtX, Xty = X.T @ X, X.T @ y
    sums = np.zeros((B, P + X_test.shape[0]))
    Xall = np.vstack([X, X_test])
    for t in range(n_sweeps):
        # w | V: precision (χN/g_w) I + (χ/κ0) HᵀH, mean precision⁻¹ (χ/κ0) Hᵀy, H = X Vᵀ
        H = np.einsum("pd,bnd->bpn", X, V)
        prec = (chi * N / gw) * np.eye(N) + (chi / k0) * np.einsum("bpn,bpm->bnm", H, H)
        L = np.linalg.cholesky(prec)
        mean = np.linalg.solve(prec, (chi / k0) * np.einsum("bpn,p->bn", H, y)[..., None])[..., 0]
        w = mean + np.linalg.solve(np.swapaxes(L, 1, 2), rng.standard_normal((B, N, 1)))[..., 0]
        # vec(V) | w: precision (D/g_v) I + (χ/κ0) (w wᵀ ⊗ XᵀX), linear term (χ/κ0) (w ⊗ Xᵀy)
        precV = (D / gv) * np.eye(N * D) + (chi / k0) * np.einsum("bn,bm,de->bndme", w, w, XtX).reshape(B, N * D, N * D)
        lin = (chi / k0) * np.einsum("bn,d->bnd", w, Xty).reshape(B, N * D, 1)
        LV = np.linalg.cholesky(precV)
        meanV = np.linalg.solve(precV, lin)
        V = (meanV + np.linalg.solve(np.swapaxes(LV, 1, 2), rng.standard_normal((B, N * D, 1)))).reshape(B, N, D)
        if t >= burn_in:
            sums += np.einsum("pd,bnd,bn->bp", Xall, V, w)  # f = X Vᵀ w
    chain = sums / (n_sweeps - burn_in)
    f, se = chain.mean(0), chain.std(0, ddof=1) / np.sqrt(B)
    return f[:P], se[:P], f[P:], se[P:]


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 4))
    y = np.array([1.0, -0.5, 0.8])
    return X, y, rng.standard_normal((2, 4))


# --- validation ------------------------------------------------------------------------------------------

def test_rejects_nonlinear_activation(small):
    X, y, _ = small
    with pytest.raises(ValueError, match="'activation'"):
        exact_posterior(X, y, mc.NetworkSpec(width=5, activation="erf"), n_sweeps=4, burn_in=1)


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(n_chains=1), "'n_chains'"),
        (dict(n_chains=2.5), "'n_chains'"),
        (dict(n_sweeps=10, burn_in=10), "'n_sweeps'"),
        (dict(n_sweeps=0), "'n_sweeps'"),
        (dict(burn_in=-1), "'burn_in'"),
        (dict(seed=-3), "'seed'"),
    ],
)
def test_rejects_bad_options(small, kw, name):
    X, y, _ = small
    with pytest.raises(ValueError, match=name):
        exact_posterior(X, y, mc.NetworkSpec(width=5), **{"n_sweeps": 20, "burn_in": 2, **kw})


@pytest.mark.parametrize(
    "X_test, name",
    [(np.zeros((0, 4)), "'X_test'"), (np.full((2, 4), np.nan), "'X_test'"), (np.ones((2, 3)), "'X_test'")],
)
def test_rejects_bad_test_inputs(small, X_test, name):
    X, y, _ = small
    with pytest.raises(ValueError, match=name):
        exact_posterior(X, y, mc.NetworkSpec(width=5), X_test=X_test, n_sweeps=4, burn_in=1)


def test_rejects_bad_data(small):
    X, y, _ = small
    with pytest.raises(ValueError, match="'y'"):
        exact_posterior(X, y[:2], mc.NetworkSpec(width=5), n_sweeps=4, burn_in=1)
    with pytest.raises(ValueError, match="'X'"):
        exact_posterior(np.where(X > 0, np.inf, X), y, mc.NetworkSpec(width=5), n_sweeps=4, burn_in=1)


# --- determinism, diagnostics, progress ------------------------------------------------------------------

def test_deterministic_and_diagnostics(small):
    X, y, Xs = small
    spec = mc.NetworkSpec(width=6, chi=2.0)
    calls = []
    kw = dict(n_chains=8, n_sweeps=300, burn_in=30)
    a = exact_posterior(X, y, spec, Xs, seed=3, progress=lambda d, t, info: calls.append((d, t, info)), **kw)
    b = exact_posterior(X, y, spec, Xs, seed=3, **kw)
    c = exact_posterior(X, y, spec, Xs, seed=4, **kw)
    assert isinstance(a, PosteriorResult)
    np.testing.assert_array_equal(a.f_train, b.f_train)
    np.testing.assert_array_equal(a.f_test, b.f_test)
    assert not np.array_equal(a.f_train, c.f_train)
    assert a.f_train.shape == (3,) and a.se_train.shape == (3,) and a.f_test.shape == (2,) and a.se_test.shape == (2,)
    assert a.trace.values["mean_y_delta"].shape == (300, 8) and a.trace.steps.shape == (300,)
    assert a.trace.kept().shape == (8, 270) and a.chain_f_train.shape == (8, 3) and a.chain_f_test.shape == (8, 2)
    assert np.all(a.se_train > 0) and a.residual == pytest.approx(a.r_hat - 1.0)
    assert a.r_hat == pytest.approx(mc.split_rhat(a.trace.kept()))
    assert 0.9 < a.r_hat < 1.1 and a.converged and a.n_iter == 300
    # progress: about every 1 % of the sweeps, ending with (total, total)
    assert 95 <= len(calls) <= 101 and calls[-1][:2] == (300, 300)
    assert calls[0][2]["stage"] == "burn-in" and calls[-1][2]["stage"] == "sampling"
    assert np.isfinite(calls[-1][2]["mean_y_delta"])
    with pytest.raises(Exception):
        a.f_train = None  # frozen


def test_split_rhat():
    rng = np.random.default_rng(0)
    assert split_rhat(rng.standard_normal((16, 400))) == pytest.approx(1.0, abs=0.02)
    drifting = rng.standard_normal((16, 400)) + np.linspace(0, 5, 400)
    assert split_rhat(drifting) > 1.3  # halves differ by 2.5 with within-variance ~1.5: R̂ ≈ 1.43


# --- independent references ------------------------------------------------------------------------------

@pytest.mark.parametrize("N, chi_is_N", [(5, False), (5, True), (20, False), (20, True)])
def test_p1_matches_quadrature(N, chi_is_N):
    x, y = np.ones(4), 1.5
    spec = mc.NetworkSpec(width=N, chi=float(N) if chi_is_N else 1.0, kappa0=0.1)
    ref = quad_p1(x, y, spec)
    p = exact_posterior(x[None, :], [y], spec, n_chains=64, n_sweeps=1000, burn_in=100, seed=11)
    assert abs(p.f_train[0] - ref) < Z_MAX * p.se_train[0], (p.f_train[0], ref, p.se_train[0])
    # and the comparison has power: the finite-width shift from NNGP is many standard errors
    nngp = y * 0.25 / (0.25 + 0.1)  # C0 = g_w g_v |x|²/D = 0.25
    assert abs(ref - nngp) > 10 * p.se_train[0]


@pytest.mark.parametrize("D", [4, 2])  # D = 2 < P = 3: rank-deficient X
def test_matches_naive_full_space_gibbs(small, D):
    X, y, Xs = small
    X, Xs = X[:, :D], Xs[:, :D]
    spec = mc.NetworkSpec(width=3, chi=2.0, kappa0=0.4)
    p = exact_posterior(X, y, spec, Xs, n_chains=64, n_sweeps=1500, burn_in=100, seed=1)
    f, se, ft, set_ = naive_gibbs(X, y, spec, Xs, n_chains=64, n_sweeps=1500, burn_in=100, seed=2)
    z = np.abs(p.f_train - f) / np.hypot(p.se_train, se)
    zt = np.abs(p.f_test - ft) / np.hypot(p.se_test, set_)
    assert z.max() < Z_MAX and zt.max() < Z_MAX, (z, zt)


def test_test_predictions_are_pinv_extension(small):
    X, y, Xs = small
    p = exact_posterior(X, y, mc.NetworkSpec(width=4), Xs, n_chains=8, n_sweeps=200, burn_in=20)
    np.testing.assert_allclose(p.f_test, Xs @ np.linalg.pinv(X) @ p.f_train, atol=1e-12)  # docs/theory.md §2
    np.testing.assert_allclose(
        p.se_test, (p.chain_f_train @ (Xs @ np.linalg.pinv(X)).T).std(0, ddof=1) / np.sqrt(8), atol=1e-12
    )


def _small_problem(P=4, D=6, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, D))
    return X, np.sign(rng.standard_normal(P))


def test_chi1_large_width_approaches_nngp():
    X, y = _small_problem()
    f0 = mc.nngp(X, y, mc.NetworkSpec(width=10, kappa0=0.3)).f_train
    far = exact_posterior(X, y, mc.NetworkSpec(width=4, kappa0=0.3), n_chains=64, n_sweeps=1500, burn_in=100)
    near = exact_posterior(X, y, mc.NetworkSpec(width=10_000, kappa0=0.3), n_chains=64, n_sweeps=1500, burn_in=100)
    assert np.max(np.abs(far.f_train - f0) / far.se_train) > 10  # N = 4: clearly not NNGP
    # N = 1e4: the O(P/N) finite-width shift (~4e-4·|f|) is within the statistical error plus that shift
    assert np.all(np.abs(near.f_train - f0) < Z_MAX * near.se_train + 1e-3)


def _tree_errors(widths, n_sweeps, seed=0):
    X, y = _small_problem()
    errs, ses = [], []
    for N in widths:
        spec = mc.NetworkSpec(width=N, chi=float(N), kappa0=0.3)
        tree = mc.tree_level(X, y, spec, strict=True)
        p = exact_posterior(X, y, spec, n_chains=64, n_sweeps=n_sweeps, burn_in=100, seed=seed)
        errs.append(np.mean(np.abs(p.f_train - tree.f_train)))
        ses.append(np.mean(p.se_train))
    return np.array(errs), np.array(ses)


def test_chi_N_approaches_tree_level_fast():
    errs, ses = _tree_errors([8, 32], n_sweeps=1200)
    assert np.all(errs > 5 * ses), (errs, ses)  # the errors are resolved
    ratio = errs[0] / errs[1]
    assert 2.5 < ratio < 6.5, ratio  # ∝ 1/N predicts 4


@pytest.mark.slow
def test_chi_N_approaches_tree_level_slope():
    widths = np.array([8, 16, 32, 64, 128])
    errs, ses = _tree_errors(widths, n_sweeps=8000)
    assert np.all(errs > 4 * ses), (errs, ses)
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -1.2 < slope < -0.8, slope


def test_rank_deficient_against_tree_level():
    # D < P (docs/theory.md §11): X of rank 5 with P = 12. At χ = N the tree level is exact up to O(1/N).
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 5))
    y = np.sign(X @ rng.standard_normal(5) + 0.3 * rng.standard_normal(12))
    errs = []
    for N in (50, 400):
        spec = mc.NetworkSpec(width=N, chi=float(N), kappa0=0.5)
        tree = mc.tree_level(X, y, spec, strict=True)
        p = exact_posterior(X, y, spec, n_chains=64, n_sweeps=1000, burn_in=100, seed=N)
        errs.append(np.max(np.abs(p.f_train - tree.f_train)))
        assert errs[-1] < 2.0 / N + Z_MAX * p.se_train.max(), (N, errs[-1])
    assert errs[1] < errs[0] / 3  # shrinking ~1/N (8x in N)


def test_sigma_v_outlier_matches_tree_direction():
    task = mc.make_task(mc.TaskSpec(P=20, P_test=10, D=40, seed=1))
    spec = mc.NetworkSpec(width=50, chi=50.0)
    tree = mc.tree_level(task.X, task.y, spec, strict=True)
    p = exact_posterior(task.X, task.y, spec, n_chains=32, n_sweeps=600, burn_in=100)
    lam_p, v_p = p.top_direction()
    lam_t, v_t = tree.top_direction()
    assert abs(v_p @ v_t) > 0.99
    assert lam_p == pytest.approx(lam_t, rel=0.1)  # tree level is O(1/N) off
    eig, _ = p.sigma_v_eigh()
    assert eig[0] > 1.5 * eig[1]  # one outlier
    np.testing.assert_allclose(np.linalg.eigvalsh(p.sigma_v)[::-1], eig, atol=1e-12)


def test_anneal_method_exact(small):
    X, y, Xs = small
    sweep = mc.sweep(X, y, mc.NetworkSpec(width=4), chis=[1, 2], methods=("tree", "exact"), X_test=Xs,
                     options={"exact": dict(n_chains=4, n_sweeps=50, burn_in=5)})
    r = sweep.at("exact", 2)
    assert isinstance(r, PosteriorResult) and r.spec.chi == 2.0 and r.n_sweeps == 50


def test_cache_roundtrip(small, tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    X, y, Xs = small
    kw = dict(n_chains=4, n_sweeps=40, burn_in=4, seed=2)
    a = exact_posterior(X, y, mc.NetworkSpec(width=4), Xs, cache=True, progress=lambda *a: None, **kw)
    b = exact_posterior(X, y, mc.NetworkSpec(width=4), Xs, cache=True, **kw)
    c = exact_posterior(X, y, mc.NetworkSpec(width=4), Xs, **kw)
    np.testing.assert_array_equal(a.f_train, c.f_train)
    np.testing.assert_array_equal(b.f_test, c.f_test)
    assert any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("chi", [1.0, 10.0, 100.0])
def test_fig2_setting_standard_error(chi):
    # docs/theory.md §10: s.e. ≤ 1e-4 on every training point on the Fig.-2 setting; exact (quadrature) inside
    # the error bars; the exact mean(y·Δ) lies above the tree level's (the tree level is 3–6 % low)
    task = mc.make_task(mc.TaskSpec(P=80, P_test=100, D=200, p=0.1, seed=0))
    spec = mc.NetworkSpec(width=100, chi=chi)
    p = exact_posterior(task.X, task.y, spec, n_chains=64, n_sweeps=1000, burn_in=200)
    q = posterior_quadrature(task.X, task.y, spec)
    tree = mc.tree_level(task.X, task.y, spec)
    assert p.se_train.max() < 1e-4 and p.converged
    assert np.max(np.abs(p.f_train - q.f_train) / p.se_train) < Z_MAX_FAMILY
    d = lambda f: np.mean(task.y * (task.y - f))  # noqa: E731
    assert d(p.f_train) > d(tree.f_train) + 10 * p.se_of(-task.y / 80)


# --- the exact posterior mean by quadrature over t = |w|² (an exact, deterministic reference) -------------

#: Simultaneous comparison of P = 80 points: 4.5 s.e. keeps the family-wise false-alarm rate below 1e-3.
Z_MAX_FAMILY = 4.5


@pytest.mark.parametrize("N, chi", [(5, 1.0), (5, 5.0), (20, 1.0), (20, 20.0), (300, 300.0)])
def test_quadrature_matches_wishart_quadrature_p1(N, chi):
    # two different one-dimensional integrals: over C = C0 χ²_N/N (w integrated out) and over t = |w|² (V out)
    x, y = np.ones(4), 1.5
    spec = mc.NetworkSpec(width=N, chi=chi, kappa0=0.1)
    q = posterior_quadrature(x[None, :], [y], spec)
    assert q.f_train[0] == pytest.approx(quad_p1(x, y, spec), abs=1e-9)
    assert q.converged and q.error_estimate < 1e-10


@pytest.fixture(scope="module")
def fig2_task():
    return mc.make_task(mc.TaskSpec(name="ising", P=80, P_test=50, D=200, p=0.1, seed=0))


@pytest.mark.parametrize("chi", [1.0, 100.0])
def test_sampler_matches_quadrature_fig2(fig2_task, chi):
    t = fig2_task
    spec = mc.NetworkSpec(width=100, chi=chi)
    q = posterior_quadrature(t.X, t.y, spec, X_test=t.X_test)
    p = exact_posterior(t.X, t.y, spec, X_test=t.X_test, n_chains=16, n_sweeps=200, burn_in=40, seed=5)
    assert np.max(np.abs(p.f_train - q.f_train) / p.se_train) < Z_MAX_FAMILY
    assert np.max(np.abs(p.f_test - q.f_test) / p.se_test) < Z_MAX_FAMILY
    # Σ_v: the sampler's outlier (eigenvalue, direction) against the exact one
    lam_q, v_q = q.top_direction()
    lam_p, v_p = p.top_direction()
    assert lam_p == pytest.approx(lam_q, rel=0.03) and abs(v_p @ v_q) > (0.9 if chi > 1 else 0.5)


def test_quadrature_rank_deficient_matches_sampler():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 5))
    y = np.sign(X @ rng.standard_normal(5) + 0.3 * rng.standard_normal(12))
    Xs = rng.standard_normal((3, 5))
    spec = mc.NetworkSpec(width=30, chi=10.0, kappa0=0.5)
    q = posterior_quadrature(X, y, spec, X_test=Xs)
    p = exact_posterior(X, y, spec, X_test=Xs, n_chains=64, n_sweeps=1500, burn_in=100, seed=9)
    assert np.max(np.abs(p.f_train - q.f_train) / p.se_train) < Z_MAX_FAMILY
    np.testing.assert_allclose(q.f_test, Xs @ np.linalg.pinv(X) @ q.f_train, atol=1e-12)


def test_exact_minus_tree_scales_like_1_over_N_at_chi_N(fig2_task):
    # docs/theory.md §10: at χ = N the tree level's error vs the exact posterior falls like 1/N
    t = fig2_task
    widths = np.array([50, 100, 200, 400, 800])
    errs = []
    for N in widths:
        spec = mc.NetworkSpec(width=int(N), chi=float(N))
        errs.append(np.max(np.abs(posterior_quadrature(t.X, t.y, spec).f_train
                                  - mc.tree_level(t.X, t.y, spec, strict=True).f_train)))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert abs(slope + 1) < 0.1, (slope, errs)


def test_exact_minus_nngp_scales_like_1_over_N_at_chi_1(fig2_task):
    t = fig2_task
    widths = np.logspace(2, 5, 4)
    f0 = mc.nngp(t.X, t.y, mc.NetworkSpec()).f_train
    errs = [np.max(np.abs(posterior_quadrature(t.X, t.y, mc.NetworkSpec(width=int(N))).f_train - f0))
            for N in widths]
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert abs(slope + 1) < 0.1, (slope, errs)


def test_quadrature_validation(small):
    X, y, _ = small
    with pytest.raises(ValueError, match="'activation'"):
        posterior_quadrature(X, y, mc.NetworkSpec(activation="relu"))
    with pytest.raises(ValueError, match="'n_nodes'"):
        posterior_quadrature(X, y, mc.NetworkSpec(), n_nodes=10)
    with pytest.raises(ValueError, match="'X_test'"):
        posterior_quadrature(X, y, mc.NetworkSpec(), X_test=np.zeros((0, 4)))
