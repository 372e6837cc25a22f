"""NNGP kernel and GP predictor (docs/theory.md §2–§3), row-space SVD (§7, §11)."""
from __future__ import annotations

import numpy as np
import pytest

import mastcore as mc
from mastcore._linalg import gp_predict, row_space
from mastcore.theory.kernels.nngp import linear_kernel, nngp_kernel


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((15, 7)), np.sign(rng.standard_normal(15)), rng.standard_normal((9, 7))


def test_linear_kernel_formula(data):
    X, _, Xs = data
    spec = mc.NetworkSpec(g_v=0.3, g_w=2.0)
    K = linear_kernel(Xs, X, spec)
    assert K.shape == (9, 15)
    np.testing.assert_allclose(K, 0.6 / 7 * np.einsum("id,jd->ij", Xs, X), rtol=1e-14)
    np.testing.assert_array_equal(nngp_kernel(Xs, X, spec), K)


def test_linear_kernel_is_wishart_mean():
    # C0 = E[C] under the prior, C = (g_w/N) Σ_i (X v_i)(X v_i)ᵀ, v_i ~ N(0, g_v/D) (docs/theory.md §2): Monte Carlo,
    # 4e5 neurons; the error bar of each entry is ≈ sqrt(2/N_mc)·|C0| so 5e-3 relative is > 3 s.e.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 4))
    spec = mc.NetworkSpec(g_v=0.8, g_w=1.5)
    V = rng.normal(0, np.sqrt(0.8 / 4), (400_000, 4))
    H = X @ V.T
    C = 1.5 * H @ H.T / V.shape[0]
    C0 = linear_kernel(X, X, spec)
    assert np.max(np.abs(C - C0)) < 5e-3 * np.max(np.abs(C0)) * 3


def test_nngp_predictor(data):
    X, y, Xs = data
    spec = mc.NetworkSpec(kappa0=0.7)
    r = mc.nngp(X, y, spec, X_test=Xs)
    C0 = linear_kernel(X, X, spec)
    np.testing.assert_allclose(r.f_train, C0 @ np.linalg.solve(C0 + 0.7 * np.eye(15), y), atol=1e-12)
    np.testing.assert_allclose(r.f_test, Xs @ np.linalg.pinv(X) @ r.f_train, atol=1e-10)  # docs/theory.md §2
    assert r.converged and r.f_test.shape == (9,)
    # χ-independent (docs/theory.md §1)
    np.testing.assert_array_equal(mc.nngp(X, y, spec.replace(chi=50.0, width=100)).f_train, r.f_train)


def test_nngp_rank_deficient_test_extension():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 3))  # D < P
    y = rng.standard_normal(10)
    Xs = rng.standard_normal((5, 3))
    r = mc.nngp(X, y, mc.NetworkSpec(), X_test=Xs)
    np.testing.assert_allclose(r.f_test, Xs @ np.linalg.pinv(X) @ r.f_train, atol=1e-10)


def test_gp_predict_not_positive_definite_names_remedy():
    K = -2.0 * np.eye(3)
    with pytest.raises(ValueError, match="kappa0"):
        gp_predict(K, np.ones(3), 1.0)


def test_row_space():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 3)) @ rng.standard_normal((3, 6))  # rank 3, P = 8, D = 6
    rs = row_space(X)
    assert rs.rank == 3 and not rs.full
    np.testing.assert_allclose(rs.U * rs.S @ rs.W.T, X, atol=1e-12)
    f = rng.standard_normal(8)
    np.testing.assert_allclose(rs.pinv_apply(f), np.linalg.pinv(X) @ f, atol=1e-10)
    assert rs.extend(None, f) is None
    assert row_space(rng.standard_normal((3, 5))).full
    with pytest.raises(ValueError, match="'X'"):
        row_space(np.zeros((3, 2)))


@pytest.mark.parametrize(
    "bad, name",
    [
        (dict(X=np.ones((3, 2, 1))), "'X'"),
        (dict(X=np.zeros((0, 2))), "'X'"),
        (dict(y=np.ones(4)), "'y'"),
        (dict(y=np.array([1.0, np.nan, 1.0])), "'y'"),
        (dict(X_test=np.zeros((0, 2))), "'X_test'"),
        (dict(X_test=np.ones((2, 5))), "'X_test'"),
        (dict(X_test=np.array([[np.inf, 1.0]])), "'X_test'"),
    ],
)
def test_nngp_bad_input_names_argument(bad, name):
    args = dict(X=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), y=np.ones(3), X_test=None, **{})
    args.update(bad)
    with pytest.raises(ValueError, match=name):
        mc.nngp(args["X"], args["y"], mc.NetworkSpec(), X_test=args["X_test"])
