"""User data: numeric CSV files and arrays as tasks (docs/theory.md §1)."""
from __future__ import annotations

import csv as _csv
import os

import numpy as np

from .._plumbing.validation import MAX_ABS, as_matrix, as_vector, positive_int
from .tasks import Task, TaskSpec
from .tasks import standardize as standardize_features

__all__ = ["load_csv", "task_from_arrays", "train_test_split"]


#: Most columns :func:`load_csv` reads (features and label); a wider file is refused from its header line, before
#: its data are parsed. 10⁵ columns of 40 rows (22 MB) parse in about 1 s (tests/test_datasets.py measures it).
MAX_COLUMNS = 100_000
#: Byte-order marks and the encodings they announce (UTF-32 before UTF-16: its LE mark starts with UTF-16's).
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _decode(raw: bytes) -> str:
    """CSV bytes as text: UTF-8, or UTF-8/16/32 announced by a byte-order mark, or UTF-16 without one (every other
    byte NUL, as spreadsheet programs write "Unicode text"); ValueError naming the expected encoding otherwise."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ValueError(f"'source' starts with a {encoding.upper()} byte-order mark but is not valid "
                                 f"{encoding.upper()} ({exc.reason} at byte {exc.start}); save it as CSV UTF-8") from None
    head = raw[:4096]
    if len(head) >= 4 and head.count(0) >= len(head) // 4:  # UTF-16 without a mark: NUL in every other byte
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"'source' must be text in UTF-8 (or UTF-16 with a byte-order mark); byte "
                         f"0x{raw[exc.start]:02x} at position {exc.start} is not UTF-8 (a Latin-1/Windows-1252 "
                         "file?); save it as CSV UTF-8") from None


def _read_text(source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(bytes(source))
    if isinstance(source, os.PathLike) or (isinstance(source, str) and os.path.exists(source)):
        with open(source, "rb") as fh:
            return _decode(fh.read())
    if isinstance(source, str):
        if "," in source or "\n" in source:
            return source
        raise ValueError(f"'source' must be a CSV path, file-like object, bytes or CSV text; no file {source!r}")
    if hasattr(source, "read"):
        data = source.read()
        return data if isinstance(data, str) else _decode(bytes(data))
    raise ValueError(f"'source' must be a CSV path, file-like object, bytes or CSV text; got {type(source).__name__}")


def _isnum(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _diagnose(lines: list[str], names: list[str]) -> None:
    """ValueError naming the first cell that is not a number (column and data row), a missing value, or a row
    with a different number of fields (Python, cell by cell: only after the fast parser has failed)."""
    for r, row in enumerate(_csv.reader(lines), start=1):
        if not row:
            continue
        if len(row) != len(names):
            raise ValueError(f"data row {r} has {len(row)} fields; the header has {len(names)} columns")
        for name, cell in zip(names, row):
            cell = cell.strip()
            if not cell:
                raise ValueError(f"column {name!r} must not have missing values (NaN); data row {r} is empty")
            if not _isnum(cell):
                raise ValueError(f"column {name!r} must contain numbers only; got {cell!r} in data row {r}")


def load_csv(source, label: str | int | None = None, *, max_columns: int = MAX_COLUMNS
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load a numeric CSV (path, file-like or text): features and labels.

    Parameters
    ----------
    source : path, file-like object, bytes, or CSV text. Bytes and files are UTF-8, or UTF-16/32 with a
        byte-order mark (or UTF-16 without one, as "Unicode text" exports); another encoding is refused naming
        the one expected.
    label : name or index of the label column; default the last column.
    max_columns : most columns read (features and label); a wider file is refused from its header line.

    Returns
    -------
    X (n, D), y (n,), feature names. Raises ValueError naming the column/row for text, NaN or empty input.
    The data are parsed by NumPy's C reader into float64 (no Python per cell): about 1 s for 4·10⁶ cells.
    """
    max_columns = positive_int("max_columns", max_columns, minimum=2)
    text = _read_text(source)
    lines = text.splitlines()
    start = next((k for k, ln in enumerate(lines) if ln.strip()), None)
    if start is None:
        raise ValueError("'source' must be a CSV with at least one data row; got an empty file")
    header = next(_csv.reader([lines[start]]))
    if len(header) > max_columns:
        raise ValueError(f"'source' has {len(header):,} columns; at most {max_columns:,} are read (features and "
                         "the label); select fewer features or reduce them (e.g. by PCA) first")
    names = [h.strip() for h in header]
    body = lines[start + 1:]
    if all(_isnum(n) for n in names):  # a header row made only of numbers is data, not names
        body = lines[start:]
        names = [f"x{i}" for i in range(len(names))]
    if len(names) < 2:
        raise ValueError(f"'source' must have at least 2 columns (features and a label); got {len(names)}")
    if not any(ln.strip() for ln in body):
        raise ValueError("'source' must contain at least one data row; got none")
    try:
        A = np.loadtxt(body, delimiter=",", dtype=np.float64, comments=None, ndmin=2, quotechar='"')
    except ValueError as exc:
        _diagnose(body, names)
        raise ValueError(f"'source' is not a readable CSV: {exc}") from None
    if A.shape[1] != len(names):
        raise ValueError(f"the data rows have {A.shape[1]} fields; the header has {len(names)} columns")
    # NaN (a "nan" cell), inf, and values whose standardisation (mean, squares) would overflow, column by column
    for bad, what in ((np.isnan(A), "missing"), (np.isinf(A), "infinite")):
        if bad.any():
            c = int(np.argmax(bad.any(axis=0)))
            row = int(np.argmax(bad[:, c]))
            if what == "missing":
                raise ValueError(f"column {names[c]!r} must not have missing values (NaN); data row {row + 1} is "
                                 f"{A[row, c]!r}")
            raise ValueError(f"column {names[c]!r} must contain finite numbers only; got {float(A[row, c])!r} in "
                             f"data row {row + 1}")
    top = np.max(np.abs(A), axis=0)
    if np.any(top > MAX_ABS):
        c = int(np.argmax(top > MAX_ABS))
        raise ValueError(f"column {names[c]!r} has values up to {top[c]:.3g} in magnitude; they must be at most "
                         f"{MAX_ABS:.0e} (standardising squares them, which would overflow); rescale the column")
    if label is None:
        col = len(names) - 1
    elif isinstance(label, str) and label in names:
        col = names.index(label)
    elif isinstance(label, int) and not isinstance(label, bool):
        if not -len(names) <= label < len(names):
            raise ValueError(f"'label' column index must be in [0, {len(names)}); got {label}")
        col = label % len(names)
    else:
        raise ValueError(f"'label' must name a column of the CSV {names[:20]}{' …' if len(names) > 20 else ''}; "
                         f"got {label!r}")
    y = np.ascontiguousarray(A[:, col])
    X = np.ascontiguousarray(np.delete(A, col, axis=1))
    return X, y, names[:col] + names[col + 1:]


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
