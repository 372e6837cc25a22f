"""Input validation shared by every public entry point.

Every error names the argument, the rule and the offending value, in the form
``'X' must be ...; got ...`` (see STYLE.md).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_matrix",
    "as_vector",
    "check_data",
    "positive_float",
    "positive_int",
]


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0), else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"'{name}' must be a real number; got {_describe(value)}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"'{name}' must be finite; got {v!r}")
    if allow_zero and v < 0:
        raise ValueError(f"'{name}' must be >= 0; got {v!r}")
    if not allow_zero and v <= 0:
        raise ValueError(f"'{name}' must be > 0; got {v!r}")
    return v


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` (integral floats such as 100.0 are accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"'{name}' must be an integer >= {minimum}; got {_describe(value)}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    else:
        fv = float(value)
        if not np.isfinite(fv) or fv != int(fv):
            raise ValueError(f"'{name}' must be an integer >= {minimum}; got {value!r}")
        v = int(fv)
    if v < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum}; got {v!r}")
    return v


def as_matrix(name: str, value, *, n_cols: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """Validate a 2-D finite float64 array (rows = samples)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a 2-D array of numbers; got {_describe(value)}") from None
    if arr.ndim != 2:
        raise ValueError(f"'{name}' must be a 2-D array of shape (n_samples, D); got shape {arr.shape}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"'{name}' must contain at least one row; got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"'{name}' must have at least one column (D >= 1); got shape {arr.shape}")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise ValueError(f"'{name}' must have D = {n_cols} columns like X; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"'{name}' must be finite (no NaN or inf); got {bad} non-finite entries")
    return arr


def as_vector(name: str, value, *, length: int | None = None) -> np.ndarray:
    """Validate a 1-D finite float64 array (a (P, 1) column is accepted and flattened)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a 1-D array of numbers; got {_describe(value)}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"'{name}' must be a 1-D array of shape (P,); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"'{name}' must not be empty; got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"'{name}' must have length P = {length} (one label per row of X); got length {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"'{name}' must be finite (no NaN or inf); got {int(np.sum(~np.isfinite(arr)))} non-finite entries")
    return arr


def check_data(X, y, X_test=None):
    """Validate a training set and optional test inputs.

    Returns
    -------
    X : (P, D) float64, y : (P,) float64, X_test : (P*, D) float64 or None
    """
    X = as_matrix("X", X)
    y = as_vector("y", y, length=X.shape[0])
    if X_test is not None:
        X_test = as_matrix("X_test", X_test, n_cols=X.shape[1])
    return X, y, X_test
