"""Input validation shared by every public entry point.

Every error names the argument, the rule and the offending value, in the form
``'X' must be ...; got ...`` (see STYLE.md).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "MAX_ABS",
    "MAX_KERNEL_SCALE",
    "MAX_LABEL_SCALE",
    "as_matrix",
    "as_vector",
    "check_data",
    "check_scales",
    "positive_float",
    "positive_int",
]

#: Largest magnitude of an input or label entry. Squares are summed over at most ~1e8 terms in the kernels
#: (|x|² ≤ D·1e200), so nothing derived from a valid entry overflows float64 (max ~1.8e308).
MAX_ABS = 1e100
#: Largest kernel scale g_w·g_v·max_α|x_α|²/D (the largest diagonal entry of the linear NNGP kernel, an upper bound
#: for erf/ReLU) and its ratio to κ0: the solvers square kernel eigenvalues (q(s) in docs/theory.md §4) and divide
#: by κ0, so both are kept far from overflow.
MAX_KERNEL_SCALE = 1e100
#: Largest χ·max(y²)/κ0: the data term (χ/κ0)|y|² of the posterior (docs/theory.md §1) and its square stay finite.
MAX_LABEL_SCALE = 1e100


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


def _real_array(name: str, value, shape_text: str) -> np.ndarray:
    """``value`` as a float64 array; ValueError naming ``name`` for complex or non-numeric input."""
    raw = value if isinstance(value, np.ndarray) else None
    if raw is None:
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError):
            raise ValueError(f"'{name}' must be {shape_text} of numbers; got {_describe(value)}") from None
    if np.iscomplexobj(raw):  # never silently drop the imaginary part
        raise ValueError(f"'{name}' must be real; got complex values ({_describe(raw)}); pass the real part "
                         "explicitly if that is what you mean")
    if raw.dtype.kind in "OSUV" and raw.size and any(isinstance(v, complex) for v in raw.flat[:1000]):
        raise ValueError(f"'{name}' must be real; got complex values")
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be {shape_text} of numbers; got {_describe(value)}") from None


def _check_magnitude(name: str, arr: np.ndarray) -> None:
    """Entries at most MAX_ABS in magnitude (checked without a temporary as large as ``arr``)."""
    if arr.size == 0:
        return
    top = max(abs(float(np.max(arr))), abs(float(np.min(arr))))
    if top > MAX_ABS:
        raise ValueError(f"'{name}' entries must be at most {MAX_ABS:.0e} in magnitude (their squares are summed, "
                         f"which would overflow); got max |{name}| = {top:.3g}; rescale '{name}'")


def as_matrix(name: str, value, *, n_cols: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """Validate a 2-D finite real float64 array (rows = samples) with entries at most MAX_ABS in magnitude."""
    arr = _real_array(name, value, "a 2-D array")
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
    _check_magnitude(name, arr)
    return arr


def as_vector(name: str, value, *, length: int | None = None) -> np.ndarray:
    """Validate a 1-D finite real float64 array (a (P, 1) column is accepted and flattened), entries at most
    MAX_ABS in magnitude."""
    arr = _real_array(name, value, "a 1-D array")
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
    _check_magnitude(name, arr)
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


def check_scales(X: np.ndarray, y: np.ndarray, spec, X_test: np.ndarray | None = None) -> None:
    """Raise ValueError naming the arguments when data and network together would overflow float64.

    Kernel scale g_w·g_v·max|x|²/D (X and X_test) at most MAX_KERNEL_SCALE, also relative to κ0, and
    χ·max(y²)/κ0 at most MAX_LABEL_SCALE (docs/theory.md §16). ``X``, ``y`` as returned by :func:`check_data`.
    """
    D = X.shape[1]
    tops = {n: float(np.max(np.einsum("ij,ij->i", A, A))) for n, A in (("X", X), ("X_test", X_test))
            if A is not None and A.size}
    name = max(tops, key=tops.get)
    scale = spec.g_w * spec.g_v * tops[name] / D
    if not np.isfinite(scale) or scale > MAX_KERNEL_SCALE:
        raise ValueError(
            f"'{name}' with 'g_v' = {spec.g_v:g} and 'g_w' = {spec.g_w:g} give a kernel scale g_w·g_v·max|x|²/D = "
            f"{scale:.3g} > {MAX_KERNEL_SCALE:.0e}, whose squares overflow; rescale the inputs or lower g_v, g_w"
        )
    if scale / spec.kappa0 > MAX_KERNEL_SCALE:
        raise ValueError(
            f"the kernel scale g_w·g_v·max|x|²/D = {scale:.3g} is more than {MAX_KERNEL_SCALE:.0e} times "
            f"'kappa0' = {spec.kappa0:g}, which overflows the solvers; increase kappa0 or rescale 'X', 'g_v', 'g_w'"
        )
    label = spec.chi * float(np.max(y * y)) / spec.kappa0
    if not np.isfinite(label) or label > MAX_LABEL_SCALE:
        raise ValueError(
            f"'y' is too large for 'kappa0' = {spec.kappa0:g}: chi·max(y²)/kappa0 = {label:.3g} > "
            f"{MAX_LABEL_SCALE:.0e} overflows the data term; rescale 'y' or increase kappa0"
        )
