"""User data: numeric CSV files and arrays as tasks (docs/theory.md §1)."""
from __future__ import annotations

import io
import os

import numpy as np

from .._validation import MAX_ABS, as_matrix, as_vector, positive_int
from .tasks import Task, TaskSpec
from .tasks import standardize as standardize_features

__all__ = ["load_csv", "task_from_arrays", "train_test_split"]


def load_csv(source, label: str | int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load a numeric CSV (path, file-like or text): features and labels.

    Parameters
    ----------
    source : path, file-like object, bytes, or CSV text.
    label : name or index of the label column; default the last column.

    Returns
    -------
    X (n, D), y (n,), feature names. Raises ValueError naming the column/row for text, NaN or empty input.
    """
    import pandas as pd  # noqa: PLC0415

    if isinstance(source, bytes):
        source = io.StringIO(source.decode("utf-8", errors="replace"))
    elif isinstance(source, str) and not os.path.exists(source) and ("," in source or "\n" in source):
        source = io.StringIO(source)
    try:
        df = pd.read_csv(source, header=0, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError("'source' must be a CSV with at least one data row; got an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"'source' is not a readable CSV: {exc}") from None
    # a header row made only of numbers is data, not names
    def _isnum(s):
        try:
            float(s)
            return True
        except ValueError:
            return False

    if all(_isnum(str(c)) for c in df.columns):
        if hasattr(source, "seek"):
            source.seek(0)
        df = pd.read_csv(source, header=None, skipinitialspace=True)
        df.columns = [f"x{i}" for i in range(df.shape[1])]
    if df.shape[0] < 1:
        raise ValueError("'source' must contain at least one data row; got none")
    if df.shape[1] < 2:
        raise ValueError(f"'source' must have at least 2 columns (features and a label); got {df.shape[1]}")
    for col in df.columns:
        conv = pd.to_numeric(df[col], errors="coerce")
        bad = conv.isna() & df[col].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ValueError(
                f"column {col!r} must contain numbers only; got {df[col].iloc[row]!r} in data row {row + 1}"
            )
        if conv.isna().any():
            row = int(np.argmax(conv.isna().to_numpy()))
            raise ValueError(f"column {col!r} must not have missing values (NaN); data row {row + 1} is empty")
        df[col] = conv
    if label is None:
        label = df.columns[-1]
    elif isinstance(label, int) and label not in df.columns:
        if not -df.shape[1] <= label < df.shape[1]:
            raise ValueError(f"'label' column index must be in [0, {df.shape[1]}); got {label}")
        label = df.columns[label]
    if label not in df.columns:
        raise ValueError(f"'label' must name a column of the CSV {list(map(str, df.columns))}; got {label!r}")
    for col in df.columns:  # inf, and values whose standardisation (mean, squares) would overflow
        values = df[col].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            row = int(np.argmax(~np.isfinite(values)))
            raise ValueError(f"column {str(col)!r} must contain finite numbers only; got {float(values[row])!r} in "
                             f"data row {row + 1}")
        top = float(np.max(np.abs(values)))
        if top > MAX_ABS:
            raise ValueError(f"column {str(col)!r} has values up to {top:.3g} in magnitude; they must be at most "
                             f"{MAX_ABS:.0e} (standardising squares them, which would overflow); rescale the column")
    y = df[label].to_numpy(dtype=np.float64)
    Xdf = df.drop(columns=[label])
    X = Xdf.to_numpy(dtype=np.float64)
    return X, y, [str(c) for c in Xdf.columns]


def train_test_split(X, y, n_train: int, seed: int = 0, shuffle: bool = True):
    """Split (X, y) into the first ``n_train`` rows (after an optional seeded shuffle) and the rest.

    Raises ValueError if ``n_train`` leaves no test point or exceeds the data.
    """
    X = as_matrix("X", X)
    y = as_vector("y", y, length=X.shape[0])
    n_train = positive_int("n_train", n_train)
    if n_train >= X.shape[0]:
        raise ValueError(
            f"'n_train' must be smaller than the number of rows ({X.shape[0]}) to leave a test set; got {n_train}"
        )
    idx = np.random.default_rng(seed).permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
    tr, te = idx[:n_train], idx[n_train:]
    return X[tr], y[tr], X[te], y[te]


def task_from_arrays(X, y, n_train: int, seed: int = 0, name: str = "csv", standardize: bool = True) -> Task:
    """Build a :class:`Task` from user arrays (e.g. :func:`load_csv`), optionally standardising the features."""
    Xtr, ytr, Xte, yte = train_test_split(X, y, n_train, seed)
    if standardize:
        Xtr, Xte = standardize_features(Xtr, Xte)
    spec = TaskSpec(name=name, P=Xtr.shape[0], P_test=Xte.shape[0], D=Xtr.shape[1], seed=seed)
    return Task(Xtr, ytr, Xte, yte, spec, None, {"kind": "user"})
