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
    "MAX_LABEL_RATIO",
    "as_matrix",
    "as_vector",
    "check_callable",
    "check_chi_scale",
    "check_data",
    "check_label_size",
    "check_labels",
    "check_method_options",
    "check_scales",
    "check_test_labels",
    "chi_values",
    "is_pm1",
    "method_names",
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
#: Largest max(y²) / (kernel scale + κ0) for the feature-learning theories (labels up to 10⁴× the prior's output
#: scale): (y, g_v, κ0) → (c·y, c²·g_v, c²·κ0) leaves the posterior unchanged up to f → c·f, so this ratio is the
#: labels' true size. Beyond it the adapted kernel and the saddle scalar s grow with y² (docs/theory.md §4) past the
#: solvers' absolute tolerances. Measured (tree level, Ising P = 40, D = 30, N = 50, κ0 = 1): ratio 8e7 converges at
#: χ = 5 and 50; 8e8 fails to converge at χ = 50, 8e9 at χ = 5; labels of 1e12 (ratio 8e23) left h(s) without a
#: root on its grid. (g_v = g_w = 1e-4 with κ0 = 1e-8 and ±1 labels, ratio 5e7, converges.)
MAX_LABEL_RATIO = 1e8
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


def as_vector(name: str, value, *, length: int | None = None, rows_of: str = "X") -> np.ndarray:
    """Validate a 1-D finite real float64 array (a (P, 1) column is accepted and flattened), entries at most
    MAX_ABS in magnitude; ``length`` is the number of rows of the matrix named ``rows_of``."""
    arr = _real_array(name, value, "a 1-D array")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"'{name}' must be a 1-D array of shape (P,); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"'{name}' must not be empty; got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"'{name}' must have length {length} (one label per row of {rows_of}); got length "
                         f"{arr.shape[0]}")
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
    check_chi_scale(spec.chi, y, spec.kappa0, name="chi")


def check_chi_scale(chi: float, y: np.ndarray, kappa0: float, *, name: str = "chis") -> None:
    """ValueError when χ·max(y²)/κ0 > MAX_LABEL_SCALE (the data term of docs/theory.md §1 would overflow), naming
    ``y`` when the labels alone are too large for κ0, else the χ argument ``name``."""
    y2 = float(np.max(y * y))
    label = chi * y2 / kappa0
    if np.isfinite(label) and label <= MAX_LABEL_SCALE:
        return
    if y2 / kappa0 > MAX_LABEL_SCALE or chi <= 1.0:
        raise ValueError(
            f"'y' is too large for 'kappa0' = {kappa0:g}: chi·max(y²)/kappa0 = {label:.3g} > "
            f"{MAX_LABEL_SCALE:.0e} overflows the data term; rescale 'y' or increase kappa0"
        )
    raise ValueError(
        f"'{name}' is too large: chi = {chi:g} gives chi·max(y²)/kappa0 = {label:.3g} > {MAX_LABEL_SCALE:.0e}, "
        f"which overflows the data term (max y² = {y2:.3g}, kappa0 = {kappa0:g}); the meaningful range is "
        "1 <= chi <= width"
    )


def check_label_size(X: np.ndarray, y: np.ndarray, spec) -> None:
    """ValueError naming 'y' when the labels are too large for the feature-learning theories (MAX_LABEL_RATIO).

    The tree level is not linear in y: the adapted kernel grows with the labels (C − K_B ∝ s (K_B a)(K_B a)ᵀ,
    docs/theory.md §4), so its answer for c·y is not c times that for y. The labels' size is measured against the
    prior's output scale, kernel scale g_w·g_v·max|x|²/D plus κ0 (see MAX_LABEL_RATIO).
    """
    output = spec.g_w * spec.g_v * float(np.max(np.einsum("ij,ij->i", X, X))) / X.shape[1] + spec.kappa0
    ratio = float(np.max(y * y)) / output
    if not np.isfinite(ratio) or ratio > MAX_LABEL_RATIO:
        raise ValueError(
            f"'y' is too large for the feature-learning theories: max y² = {float(np.max(y * y)):.3g} is "
            f"{ratio:.3g}× the prior's output scale g_w·g_v·max|x|²/D + kappa0 = {output:.3g} (at most "
            f"{MAX_LABEL_RATIO:.0e}); the theory is not linear in y (the adapted kernel grows with y², docs/theory.md "
            "§4) and the saddle solver does not resolve labels this large; rescale 'y' (e.g. to ±1 labels), or "
            "scale g_v and kappa0 by the same factor as y²"
        )


def chi_values(value, *, name: str = "chis") -> np.ndarray:
    """χ values as a sorted, de-duplicated (n,) float64 array, n ≥ 1, each a finite real number ≥ 1.

    Accepts a number or a 1-D sequence/array of numbers; strings, None, bools, complex numbers and arrays of
    more than one dimension raise ValueError naming ``name``.
    """
    hint = "a list of numbers >= 1, e.g. [1, 10, 100]"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_)):
        items = [value]
    elif value is None or isinstance(value, (str, bytes, dict, set)) or not hasattr(value, "__iter__"):
        raise ValueError(f"'{name}' must be {hint}; got {_describe(value)}")
    else:
        if isinstance(value, np.ndarray) and value.ndim > 1:
            raise ValueError(f"'{name}' must be a 1-D list of numbers >= 1; got {_describe(value)}")
        items = list(value)
    out = []
    for c in items:
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Real):
            raise ValueError(f"'{name}' must be a real number each ({hint}); got the entry {_describe(c)} "
                             f"({type(c).__name__}) in {_describe(value)}")
        v = float(c)
        if not np.isfinite(v):
            raise ValueError(f"'{name}' must be finite; got {v!r}")
        if v < 1.0:
            raise ValueError(f"'{name}' must be >= 1 (1 = standard scaling, width = mean-field); got {v!r}")
        out.append(v)
    if not out:
        raise ValueError(f"'{name}' must contain at least one value; got an empty list")
    return np.unique(np.asarray(out, dtype=np.float64))


def method_names(value, allowed, *, name: str = "methods") -> tuple:
    """A non-empty tuple of distinct names from ``allowed`` (a single string counts as one name)."""
    if isinstance(value, str):
        value = (value,)
    if value is None or not hasattr(value, "__iter__") or isinstance(value, (bytes, dict)):
        raise ValueError(f"'{name}' must be a list of names from {tuple(allowed)}; got {_describe(value)}")
    names = tuple(dict.fromkeys(value))
    if not names:
        raise ValueError(f"'{name}' must name at least one method from {tuple(allowed)}; got {_describe(value)}")
    for m in names:
        if not isinstance(m, str) or m not in allowed:
            raise ValueError(f"'{name}' entries must be among {tuple(allowed)}; got {m!r}")
    return names


def check_method_options(options, methods) -> dict:
    """``options`` as {method: {keyword: value}}: a dict (or None) whose values are dicts (or None), keyed by
    methods that are run. ValueError naming the method otherwise (the keywords themselves are the solver's)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"'options' must be a dict mapping a method to its keyword options, e.g. "
                         f"{{'exact': {{'n_chains': 32}}}}; got {_describe(options)}")
    unknown = sorted(map(str, set(options) - set(methods)))
    if unknown:
        raise ValueError(f"'options' names methods that are not run: {unknown} (methods: {list(methods)})")
    for m, opts in options.items():
        if opts is not None and not isinstance(opts, dict):
            raise ValueError(f"'options' entry for method {m!r} must be a dict of keyword options, e.g. "
                             f"{{{m!r}: {{...}}}}; got {_describe(opts)}")
        if opts and not all(isinstance(k, str) for k in opts):
            raise ValueError(f"'options' entry for method {m!r} must have option names (str) as keys; got "
                             f"{list(opts)!r}")
    return options


def check_test_labels(X_test, y_test) -> np.ndarray | None:
    """``y_test`` validated against ``X_test`` (already validated), errors naming 'y_test'."""
    if y_test is None:
        return None
    if X_test is None:
        raise ValueError("'y_test' needs 'X_test' (the test inputs the labels belong to)")
    return as_vector("y_test", y_test, length=X_test.shape[0], rows_of="X_test")


def check_callable(name: str, value) -> None:
    """TypeError naming ``name`` unless ``value`` is None or callable (progress and cancel hooks)."""
    if value is not None and not callable(value):
        raise TypeError(f"'{name}' must be a callable or None; got {_describe(value)} ({type(value).__name__})")


def is_pm1(y) -> bool:
    """True when every label is −1 or +1 (the labels for which the 0–1 error of sign(f) is defined)."""
    y = np.asarray(y)
    return bool(y.size) and bool(np.all(np.abs(y) == 1.0))


def check_labels(y, *, name: str = "y") -> str | None:
    """A one-sentence warning text when ``y`` looks like class labels that are not ±1, else None.

    The theories treat labels as real regression targets (docs/theory.md §1): any real y is valid, and the
    0–1 error (sign agreement, docs/theory.md §0) is defined only for ±1 labels — it is NaN otherwise. Labels
    with few integer values other than ±1 ({0, 1}, {1, 2}, three classes) are almost always a mistake of
    encoding, hence the warning; continuous labels (regression) get none.
    """
    y = np.asarray(y, dtype=np.float64)
    if is_pm1(y) or not np.all(y == np.round(y)):
        return None
    values = np.unique(y)
    if values.size > 10:
        return None
    shown = "{" + ", ".join(f"{v:g}" for v in values[:5]) + (", …" if values.size > 5 else "") + "}"
    remedy = (f" (map them with y = 2·(y == {values[1]:g}) − 1)" if values.size == 2 else "")
    return (f"'{name}' has the class values {shown}, not ±1: the theories fit them as real numbers (regression), "
            f"and the 0–1 error (sign of the prediction vs sign of y) is not defined for them and is reported as "
            f"NaN; encode two classes as −1/+1{remedy}")
