"""Tests of mastcore.activations and the numerical kernel (docs/theory.md §9, §9.7).

A user activation (sin) defined in this file alone runs every theory, the trainer and the sweep; the Gauss–Hermite
kernel is checked against Monte Carlo, against a high-degree run, against the closed forms of erf and ReLU, and its
derivatives against finite differences.
"""
from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import mastcore as mc
from mastcore.activations import GH_DEGREE
from mastcore.theory.kernels import closed_forms as ck
from mastcore.theory.kernels import gaussian_law as nk
from mastcore.theory.kernels.quadrature import gh_diag_kernel, gh_pair_kernel

#: Monte-Carlo agreement: |quadrature − MC| ≤ 4 standard errors.
MC_SIGMAS = 4.0
#: Convergence in degree: the default degree against a 300-node run at q ≤ 0.5 (docs/theory.md §9.7 table).
CONVERGED = 1e-10
#: Derivatives against central finite differences of k (step 1e-5: truncation ~1e-10, round-off ~1e-11).
FD_TOL = 1e-7
#: ReLU's kink: Gauss–Hermite converges only algebraically; 200 nodes give ~3e-3 of the spread (docs/theory.md §9.7).
KINK_RTOL = 1e-2
NUMERICAL = ("tanh", "gelu", "softplus")


def _pairs(rng, n, qmax):
    qa, qb = rng.uniform(0.05, qmax, n), rng.uniform(0.05, qmax, n)
    c = rng.uniform(-0.98, 0.98, n) * np.sqrt(qa * qb)
    return c, qa, qb


@pytest.fixture
def sin_activation():
    """sin, registered for the test only (removed afterwards)."""
    import torch

    act = mc.register_activation(mc.Activation("sin", np.sin, phi_torch=torch.sin, dphi=np.cos, odd=True,
                                               phi_prime_max=1.0, phi_second_max=1.0, label="sine"))
    yield act
    mc.ACTIVATIONS._items.pop("sin", None)


@pytest.fixture
def small_task():
    task = mc.make_task(mc.TaskSpec(name="ising", P=8, P_test=20, D=12))
    return task.X, task.y, task.X_test


# --- the registry ---------------------------------------------------------------------------------------------

def test_registry_lists_builtins_and_is_the_public_one():
    assert tuple(mc.ACTIVATIONS)[:6] == ("linear", "erf", "relu", "tanh", "gelu", "softplus")
    assert mc.specs.ACTIVATIONS is mc.ACTIVATIONS
    assert {"Activation", "register_activation"} <= set(mc.__all__)
    assert [a for a in mc.ACTIVATIONS if mc.ACTIVATIONS[a].linear] == ["linear"]
    assert mc.ACTIVATIONS["relu"].label == "ReLU" and mc.ACTIVATIONS["gelu"].label == "GELU"


def test_user_activation_is_validated_and_removed(sin_activation):
    assert "sin" in mc.ACTIVATIONS and mc.NetworkSpec(activation="sin").activation == "sin"
    assert not sin_activation.closed_form and sin_activation.quadrature_degree == GH_DEGREE
    with pytest.raises(ValueError, match="already registered"):
        mc.register_activation(sin_activation)


@pytest.mark.parametrize("kwargs, err, word", [
    (dict(name="not a name", phi=np.sin), ValueError, "'name'"),
    (dict(name="s", phi=3), TypeError, "'phi'"),
    (dict(name="s", phi=np.sin, dphi="cos"), TypeError, "'dphi'"),
    (dict(name="s", phi=np.sin, gauss_mean=0.5), TypeError, "'gauss_mean'"),
    (dict(name="s", phi=np.sin, default_ansatz="flat"), ValueError, "'default_ansatz'"),
    (dict(name="s", phi=np.sin, phi_prime_max=-1.0), ValueError, "'phi_prime_max'"),
    (dict(name="s", phi=np.sin, degree=1.5), ValueError, "'degree'"),
    (dict(name="s", phi=np.sin, pair_kernel=lambda c, a, b, derivatives=False: c), ValueError, "'pair_kernel'"),
])
def test_bad_activation_input_names_the_argument(kwargs, err, word):
    with pytest.raises(err, match=word):
        mc.Activation(**kwargs)


def test_bad_activation_names_are_refused():
    with pytest.raises(ValueError, match="'activation'"):
        mc.NetworkSpec(activation="sine")
    with pytest.raises(ValueError, match="'activation'"):
        mc.NetworkSpec(activation=mc.ACTIVATIONS["erf"])  # the spec holds names (cache keys), not records
    with pytest.raises(ValueError, match="'activation'"):
        mc.get_activation(3)
    with pytest.raises(TypeError, match="'act'"):
        mc.register_activation("tanh")


def test_name_comparisons_live_in_the_registry():
    """No library file outside the registry compares activation names (``== "erf"`` etc.). The files the method
    registry's consumers (sweep, budget, thread policy, plots) read the record too."""
    root = Path(mc.__file__).parent.parent
    others = set()
    names = "|".join(re.escape(a) for a in ("linear", "erf", "relu", "tanh", "gelu", "softplus"))
    pattern = re.compile(rf"""(==|!=)\s*["']({names})["']|["']({names})["']\s*(==|!=)|in\s*\(\s*["']({names})["']""")
    hits = set()
    for folder in ("mastcore", "mastcore_dashboard", "pages"):
        for path in (root / folder).rglob("*.py"):
            rel = path.relative_to(root).as_posix()
            if rel not in others and pattern.search(path.read_text(encoding="utf-8")):
                hits.add(rel)
    assert hits <= {"mastcore/activations.py"}, hits


# --- the numerical kernel -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NUMERICAL)
def test_numerical_kernel_matches_monte_carlo(name):
    act = mc.ACTIVATIONS[name]
    rng = np.random.default_rng(3)
    S = 400_000
    for c, qa, qb in [(0.3, 0.7, 0.5), (-0.8, 1.0, 0.9), (1.2, 2.0, 1.5)]:
        L = np.linalg.cholesky([[qa, c], [c, qb]])
        h = rng.standard_normal((S, 2)) @ L.T
        prod = act.phi(h[:, 0]) * act.phi(h[:, 1])
        mean, se = prod.mean(), prod.std() / np.sqrt(S)
        assert abs(act.kernel(c, qa, qb) - mean) <= MC_SIGMAS * se, (c, qa, qb)
        sq = act.phi(h[:, 0]) ** 2
        assert abs(act.diag(qa) - sq.mean()) <= MC_SIGMAS * sq.std() / np.sqrt(S)


@pytest.mark.parametrize("name", NUMERICAL)
def test_numerical_kernel_converges_in_degree(name):
    act = mc.ACTIVATIONS[name]
    c, qa, qb = _pairs(np.random.default_rng(0), 200, 0.5)
    ref = gh_pair_kernel(act.phi, act.dphi, c, qa, qb, degree=300, derivatives=True)
    got = act.kernel(c, qa, qb, derivatives=True)
    for r, g in zip(ref, got):
        assert np.max(np.abs(r - g)) < CONVERGED
    refd = gh_diag_kernel(act.phi, act.dphi, qa, degree=300, derivative=True)
    for r, g in zip(refd, act.diag(qa, derivative=True)):
        assert np.max(np.abs(r - g)) < CONVERGED


def test_tanh_needs_more_nodes_at_larger_variance():
    """The documented degrees: tanh at q ≤ 1 reaches 1e-10 with 128 nodes, not with 32."""
    act = mc.ACTIVATIONS["tanh"]
    c, qa, qb = _pairs(np.random.default_rng(1), 100, 1.0)
    ref = gh_pair_kernel(act.phi, act.dphi, c, qa, qb, degree=300)
    assert np.max(np.abs(gh_pair_kernel(act.phi, act.dphi, c, qa, qb, degree=128) - ref)) < CONVERGED
    assert np.max(np.abs(gh_pair_kernel(act.phi, act.dphi, c, qa, qb, degree=32) - ref)) > 1e3 * CONVERGED


@pytest.mark.parametrize("name", NUMERICAL + ("erf",))
def test_numerical_derivatives_match_finite_differences(name):
    act = mc.ACTIVATIONS[name]
    c, qa, qb = _pairs(np.random.default_rng(2), 20, 1.0)
    f = lambda c, qa, qb: gh_pair_kernel(act.phi, act.dphi, c, qa, qb, degree=96)  # noqa: E731
    _, dc, dqa, dqb = gh_pair_kernel(act.phi, act.dphi, c, qa, qb, degree=96, derivatives=True)
    e = 1e-5
    np.testing.assert_allclose(dc, (f(c + e, qa, qb) - f(c - e, qa, qb)) / (2 * e), atol=FD_TOL)
    np.testing.assert_allclose(dqa, (f(c, qa + e, qb) - f(c, qa - e, qb)) / (2 * e), atol=FD_TOL)
    np.testing.assert_allclose(dqb, (f(c, qa, qb + e) - f(c, qa, qb - e)) / (2 * e), atol=FD_TOL)
    g = lambda q: gh_diag_kernel(act.phi, act.dphi, q, degree=96)  # noqa: E731
    np.testing.assert_allclose(gh_diag_kernel(act.phi, act.dphi, qa, degree=96, derivative=True)[1],
                               (g(qa + e) - g(qa - e)) / (2 * e), atol=FD_TOL)


def test_numerical_path_reproduces_the_closed_forms():
    """erf (smooth): the quadrature equals the arcsine kernel and its derivatives; ReLU (kinked): the arc-cosine
    kernel to the slower algebraic accuracy of a kink; linear: exact (a degree-2 polynomial)."""
    c, qa, qb = _pairs(np.random.default_rng(4), 100, 1.0)
    erf = mc.ACTIVATIONS["erf"]
    for r, g in zip(ck.erf_pair(c, qa, qb, derivatives=True),
                    gh_pair_kernel(erf.phi, erf.dphi, c, qa, qb, degree=128, derivatives=True)):
        assert np.max(np.abs(r - g)) < CONVERGED
    numerical = gh_diag_kernel(erf.phi, erf.dphi, qa, degree=128, derivative=True)
    for r, g in zip(ck.erf_diag(qa, derivative=True), numerical):
        assert np.max(np.abs(r - g)) < CONVERGED
    relu = mc.ACTIVATIONS["relu"]
    exact = ck.relu_pair(c, qa, qb)
    err = [np.max(np.abs(gh_pair_kernel(relu.phi, relu.dphi, c, qa, qb, degree=d) - exact) / exact.std())
           for d in (50, 200)]
    assert err[1] < KINK_RTOL and err[1] < err[0]
    lin = mc.ACTIVATIONS["linear"]
    np.testing.assert_allclose(gh_pair_kernel(lin.phi, lin.dphi, c, qa, qb, degree=4), c, atol=1e-14)


def test_gram_helpers_agree_between_numerical_and_closed_paths():
    """A registered copy of erf without its closed form goes through the numerical branch of nk.kernel and
    nk.gram_parts (upper triangle, mirrored); it must equal the closed-form branch."""
    erf = mc.ACTIVATIONS["erf"]
    copy = mc.register_activation(dataclasses.replace(erf, name="erf_numerical", pair_kernel=None, diag_kernel=None,
                                                      degree=128))
    try:
        rng = np.random.default_rng(5)
        X = rng.standard_normal((7, 4))
        Sigma = 0.1 * np.eye(4)
        np.testing.assert_allclose(nk.kernel(X, X, Sigma, copy), nk.kernel(X, X, Sigma, "erf"), atol=CONVERGED)
        M = X @ Sigma @ X.T
        a, b = nk.gram_parts(M, copy), nk.gram_parts(M, "erf")
        for f in ("K", "dc", "dqa", "ddiag"):
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), atol=CONVERGED)
    finally:
        mc.ACTIVATIONS._items.pop("erf_numerical", None)


@pytest.mark.parametrize("name", ("tanh", "softplus", "gelu"))
def test_mean_kernel_at_zero_mean_matches_the_gauss_hermite_kernel(name):
    """The gaussian_mean ansatz's torch kernel (Gauss–Legendre × closed/Gauss–Hermite inner) at m = 0 equals the
    2-D Gauss–Hermite kernel."""
    import torch

    c, qa, qb = _pairs(np.random.default_rng(6), 30, 1.0)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    z = torch.zeros(30, dtype=torch.float64)
    got = nk.mean_pair_kernel_torch(z, t(qa), z, t(qb), t(c), name).numpy()
    np.testing.assert_allclose(got, mc.ACTIVATIONS[name].kernel(c, qa, qb), atol=1e-7)
    got = nk.mean_diag_kernel_torch(z, t(qa), name).numpy()
    np.testing.assert_allclose(got, mc.ACTIVATIONS[name].diag(qa), atol=1e-9)


# --- a user activation through the library --------------------------------------------------------------------

def test_user_activation_runs_every_theory_and_the_trainer(sin_activation, small_task):
    X, y, Xt = small_task
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = mc.NetworkSpec(width=20, chi=2.0, activation="sin")
        g = mc.nngp(X, y, spec, Xt)
        t = mc.tree_level(X, y, spec, Xt)
        loop = mc.one_loop(X, y, spec, Xt, variant="auto", n_samples=20_000, max_samples=20_000)
        lang = mc.train_langevin(X, y, spec, Xt, options=mc.LangevinOptions(ensemble=4, steps=600, burn_in=200))
    assert t.ansatz == "gaussian" and t.converged
    for r in (g, t, loop, lang):
        assert np.all(np.isfinite(r.f_train)) and np.all(np.isfinite(r.f_test)), r.method
    # the NNGP kernel of sin has the closed form k = e^{−(q_a+q_b)/2} sinh(c) (independent check of the quadrature)
    q = (0.5 / X.shape[1]) * np.sum(X * X, axis=1)
    c = (0.5 / X.shape[1]) * X @ X.T
    K = 0.5 * np.exp(-0.5 * (q[:, None] + q[None, :])) * np.sinh(c)
    np.testing.assert_allclose(g.C, K, atol=1e-12)


def test_user_activation_runs_the_sweep(sin_activation):
    task = mc.make_task(mc.TaskSpec(name="ising", P=8, P_test=20, D=12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mc.sweep(task.X, task.y, mc.NetworkSpec(width=20, activation="sin"), chis=[1.0, 4.0],
                       methods=("nngp", "tree", "one_loop"), X_test=task.X_test, y_test=task.y_test,
                       options={"one_loop": {"n_samples": 20_000, "max_samples": 20_000}})
    t = res.table
    assert len(t) == 6 and bool(t["converged"].all())
    assert np.all(np.isfinite(t[["train_mean_y_delta", "test_mean_y_delta", "residual"]].to_numpy(dtype=float)))
    # the tree level moves away from the NNGP as χ grows (feature learning), the NNGP does not
    tree = t[t.method == "tree"].set_index("chi")["train_mean_y_delta"]
    nngp = t[t.method == "nngp"].set_index("chi")["train_mean_y_delta"]
    assert nngp[1.0] == nngp[4.0] and tree[4.0] < tree[1.0] < nngp[1.0]


def test_numpy_only_activation_trains_but_refuses_the_mean_ansatz(small_task):
    """Without a torch form the trainer goes through numpy; the gaussian_mean ansatz (autograd) refuses clearly."""
    X, y, _ = small_task
    act = mc.register_activation(mc.Activation("sin_numpy", np.sin, dphi=np.cos, odd=True, phi_second_max=1.0))
    try:
        assert not act.differentiable_torch and mc.ACTIVATIONS["tanh"].differentiable_torch
        spec = mc.NetworkSpec(width=10, chi=2.0, activation="sin_numpy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = mc.train_langevin(X, y, spec, options=mc.LangevinOptions(ensemble=2, steps=100, burn_in=50))
        assert np.all(np.isfinite(r.f_train))
        with pytest.raises(ValueError, match="gaussian_mean"):
            mc.tree_level(X, y, spec, ansatz="gaussian_mean")
    finally:
        mc.ACTIVATIONS._items.pop("sin_numpy", None)


def test_fused_trainer_force_equals_the_generic_one(small_task):
    """tanh's fused in-place force and the generic φ/φ' path give the same trajectory (same seed)."""
    X, y, _ = small_task
    tanh = mc.ACTIVATIONS["tanh"]
    mc.register_activation(dataclasses.replace(tanh, name="tanh_generic", torch_force=None))
    try:
        opts = mc.LangevinOptions(ensemble=2, steps=100, burn_in=50, dt=0.01, device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = mc.train_langevin(X, y, mc.NetworkSpec(width=10, activation="tanh"), options=opts)
            b = mc.train_langevin(X, y, mc.NetworkSpec(width=10, activation="tanh_generic"), options=opts)
        np.testing.assert_allclose(a.f_train, b.f_train, rtol=1e-12, atol=1e-12)
    finally:
        mc.ACTIVATIONS._items.pop("tanh_generic", None)


@pytest.mark.parametrize("name", NUMERICAL)
def test_tree_level_at_chi_one_approaches_nngp_with_width(name):
    """At χ = 1 the saddle's shift from the NNGP is O(1/N): ten times the width, about a tenth of the shift."""
    task = mc.make_task(mc.TaskSpec(name="ising", P=10, P_test=10, D=16))
    g = mc.nngp(task.X, task.y, mc.NetworkSpec(width=50, activation=name))
    gaps = []
    for N in (50, 500):
        t = mc.tree_level(task.X, task.y, mc.NetworkSpec(width=N, activation=name))
        assert t.converged
        gaps.append(np.max(np.abs(t.f_train - g.f_train)))
    assert 0 < gaps[1] < 0.2 * gaps[0]
