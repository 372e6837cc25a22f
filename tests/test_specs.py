"""Parameter objects and array validation: property tests (hypothesis) — every error names the argument."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mastcore as mc
from mastcore._plumbing.validation import as_matrix, as_vector, check_data, positive_float, positive_int

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite_pos = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
not_positive = st.one_of(
    st.floats(max_value=0.0, allow_nan=False), st.just(float("nan")), st.just(float("inf")), st.just(-float("inf")),
    st.sampled_from(["", "a", "1.0"]), st.none(), st.booleans(),
)


@SETTINGS
@given(width=st.integers(1, 10_000), frac=st.floats(0, 1), g_v=finite_pos, g_w=finite_pos, kappa0=finite_pos,
       activation=st.sampled_from(tuple(mc.ACTIVATIONS)))
def test_valid_specs_accepted(width, frac, g_v, g_w, kappa0, activation):
    chi = 1.0 + frac * (width - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ScaleWarning inside 1 <= chi <= width
        s = mc.NetworkSpec(width=width, chi=chi, g_v=g_v, g_w=g_w, kappa0=kappa0, activation=activation)
    assert s.width == width and isinstance(s.width, int) and s.chi == chi
    assert mc.NetworkSpec(**s.to_dict()) == s and hash(s) == hash(mc.NetworkSpec(**s.to_dict()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.width = 3


@SETTINGS
@given(field=st.sampled_from(["g_v", "g_w", "kappa0"]), value=not_positive)
def test_positive_floats_rejected(field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        mc.NetworkSpec(**{field: value})


@SETTINGS
@given(value=st.one_of(st.integers(max_value=0), st.floats(0.1, 1e4).filter(lambda v: v != int(v)), st.sampled_from(["", "3"]),
                       st.booleans(), st.just(float("nan"))))
def test_width_rejected(value):
    with pytest.raises(ValueError, match="'width'"):
        mc.NetworkSpec(width=value)


@SETTINGS
@given(chi=st.one_of(st.floats(-1e3, 0.999), st.just(float("nan")), st.just(float("inf"))))
def test_chi_below_one_rejected(chi):
    with pytest.raises(ValueError, match="'chi'"):
        mc.NetworkSpec(chi=chi)


@SETTINGS
@given(width=st.integers(1, 100), excess=st.floats(1.01, 100))
def test_chi_above_width_warns(width, excess):
    with pytest.warns(mc.ScaleWarning, match="'chi'"):
        mc.NetworkSpec(width=width, chi=width * excess)


@SETTINGS
@given(activation=st.one_of(st.sampled_from(["", "Linear", "Tanh", "relu ", "sigmoid"]), st.none(), st.integers()))
def test_activation_rejected(activation):
    with pytest.raises(ValueError, match="'activation'"):
        mc.NetworkSpec(activation=activation)


def test_replace_validates():
    s = mc.NetworkSpec()
    assert s.replace(chi=2.0).chi == 2.0
    with pytest.raises(ValueError, match="'kappa0'"):
        s.replace(kappa0=0)


def test_integral_float_width_accepted():
    assert mc.NetworkSpec(width=100.0).width == 100


# --- array validation ------------------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 6), st.integers(1, 5))


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 1000), bad=st.sampled_from([np.nan, np.inf, -np.inf]),
       which=st.sampled_from(["X", "y", "X_test"]))
def test_nonfinite_entries_named(shape, seed, bad, which):
    rng = np.random.default_rng(seed)
    X, y, Xs = rng.standard_normal(shape), rng.standard_normal(shape[0]), rng.standard_normal((2, shape[1]))
    arr = {"X": X, "y": y, "X_test": Xs}[which]
    arr.flat[rng.integers(arr.size)] = bad
    with pytest.raises(ValueError, match=f"'{which}' must be finite"):
        check_data(X, y, Xs)


@SETTINGS
@given(shape=shapes, delta=st.integers(1, 3).flatmap(lambda d: st.sampled_from([d, -d])))
def test_length_mismatch_named(shape, delta):
    n = shape[0] + delta
    if n < 1:
        n = shape[0] + abs(delta)
    with pytest.raises(ValueError, match="'y'"):
        check_data(np.ones(shape), np.ones(n))


@SETTINGS
@given(shape=shapes, d_test=st.integers(1, 8))
def test_test_columns_named(shape, d_test):
    if d_test == shape[1]:
        d_test += 1
    with pytest.raises(ValueError, match="'X_test'"):
        check_data(np.ones(shape), np.ones(shape[0]), np.ones((3, d_test)))


@SETTINGS
@given(ndim=st.sampled_from([0, 1, 3]))
def test_wrong_ndim_named(ndim):
    X = np.ones((2,) * ndim) if ndim else np.float64(1.0)
    with pytest.raises(ValueError, match="'X'"):
        as_matrix("X", X)
    with pytest.raises(ValueError, match="'y'"):
        as_vector("y", np.ones((2, 2, 2)) if ndim != 1 else np.ones((2, 3)))


@pytest.mark.parametrize("which", ["X", "y", "X_test"])
def test_empty_named(which):
    X, y, Xs = np.ones((3, 2)), np.ones(3), np.ones((2, 2))
    if which == "X":
        X, y = np.ones((0, 2)), np.ones(0)
    elif which == "y":
        X, y = np.ones((0, 2)), np.ones(0)
        with pytest.raises(ValueError, match="'y'"):
            as_vector("y", y)
        return
    else:
        Xs = np.ones((0, 2))  # P* = 0
    with pytest.raises(ValueError, match=f"'{which}'"):
        check_data(X, y, Xs)


def test_zero_test_rows_rejected_by_every_solver():
    X, y = np.eye(3), np.ones(3)
    spec = mc.NetworkSpec(width=4)
    for call in (lambda: mc.nngp(X, y, spec, X_test=np.ones((0, 3))),
                 lambda: mc.tree_level(X, y, spec, X_test=np.ones((0, 3))),
                 lambda: mc.exact_posterior(X, y, spec, X_test=np.ones((0, 3)), n_sweeps=3, burn_in=1),
                 lambda: mc.anneal(X, y, spec, [1, 2], X_test=np.ones((0, 3)))):
        with pytest.raises(ValueError, match="'X_test'"):
            call()


def test_non_numeric_named():
    with pytest.raises(ValueError, match="'X'"):
        as_matrix("X", [["a", "b"]])
    with pytest.raises(ValueError, match="'y'"):
        as_vector("y", ["x"])


@SETTINGS
@given(value=st.one_of(st.integers(-5, 0), st.floats(-5, 0)))
def test_scalar_helpers(value):
    with pytest.raises(ValueError, match="'n'"):
        positive_int("n", value)
    with pytest.raises(ValueError, match="'t'"):
        positive_float("t", value)
    if value == 0:
        assert positive_float("t", value, allow_zero=True) == 0.0
    assert positive_int("k", math.floor(abs(value)) + 1) >= 1
