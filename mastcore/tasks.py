"""Tasks: data sets with a train/test split and a "task direction" in input space (THEORY §1).

A task is described by a plain, hashable :class:`TaskSpec` (what the cache keys on) and materialised by
:func:`make_task`. New task kinds register a builder with :func:`register_task`.
"""
from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._validation import as_matrix, as_vector, positive_float, positive_int

__all__ = [
    "Task",
    "TaskSpec",
    "available_tasks",
    "ising",
    "load_csv",
    "make_task",
    "register_task",
    "task_from_arrays",
    "teacher_student",
    "train_test_split",
]


@dataclass(frozen=True)
class TaskSpec:
    """Plain description of a task (deterministic from ``seed``).

    name : registered task name ("ising", "teacher_student", ...); P / P_test : train / test sizes; D : input
    dimension; p : Ising flip probability; noise : label-noise standard deviation (teacher–student);
    teacher : "linear" or another registered teacher; seed : data seed; options : extra builder options as a
    tuple of (key, value) pairs (kept hashable for caching).
    """

    name: str = "ising"
    P: int = 80
    P_test: int = 1000
    D: int = 200
    p: float = 0.1
    noise: float = 0.0
    teacher: str = "linear"
    seed: int = 0
    options: tuple = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"'name' must be a task name; got {self.name!r}")
        object.__setattr__(self, "P", positive_int("P", self.P))
        object.__setattr__(self, "P_test", positive_int("P_test", self.P_test))
        object.__setattr__(self, "D", positive_int("D", self.D))
        p = positive_float("p", self.p, allow_zero=True)
        if p > 0.5:
            raise ValueError(f"'p' (flip probability) must be in [0, 0.5]; got {p!r}")
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "noise", positive_float("noise", self.noise, allow_zero=True))
        object.__setattr__(self, "seed", positive_int("seed", self.seed, minimum=0))
        object.__setattr__(self, "options", tuple(self.options))

    def replace(self, **changes) -> "TaskSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["options"] = dict(self.options)
        return d


@dataclass(frozen=True)
class Task:
    """A materialised task. X (P, D), y (P,), X_test (P*, D), y_test (P*,), direction (D,) unit task direction
    in input space (all-ones/√D for Ising, w*/|w*| for teacher–student) or None, plus free-form ``info``."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    spec: TaskSpec
    direction: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def P(self) -> int:
        return self.X.shape[0]

    @property
    def D(self) -> int:
        return self.X.shape[1]


_BUILDERS: dict[str, Callable[[TaskSpec], Task]] = {}


def register_task(name: str, builder: Callable[[TaskSpec], Task]) -> None:
    """Register ``builder(spec) -> Task`` under ``name``."""
    _BUILDERS[name] = builder


def available_tasks() -> tuple[str, ...]:
    _load_optional()
    return tuple(_BUILDERS)


def _load_optional():
    try:  # real-data tasks (digits, MNIST) live in an optional module
        from . import datasets  # noqa: F401, PLC0415
    except ImportError:
        pass


def make_task(spec: TaskSpec) -> Task:
    """Build the task described by ``spec``."""
    if spec.name not in _BUILDERS:
        _load_optional()
    if spec.name not in _BUILDERS:
        raise ValueError(f"'name' must be one of {tuple(_BUILDERS)}; got {spec.name!r}")
    return _BUILDERS[spec.name](spec)


# --- Ising -----------------------------------------------------------------------------------------------

def ising(P: int, D: int, p: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ising task of THEORY §1: y = ±1 with probability ½; x_j = y with probability 1 − p, else −y.

    Deterministic: ``rng = default_rng(seed)``; labels ``rng.choice([-1, 1], P)``; flips ``rng.random((P, D)) < p``.
    Returns X (P, D), y (P,) as float64.
    """
    P = positive_int("P", P)
    D = positive_int("D", D)
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], P).astype(np.float64)
    flips = rng.random((P, D)) < p
    X = np.where(flips, -y[:, None], y[:, None]).astype(np.float64)
    return X, y


def _ising_task(spec: TaskSpec) -> Task:
    # One draw of P + P* samples (the §1 generator), split into the first P (train) and the rest (test).
    X, y = ising(spec.P + spec.P_test, spec.D, spec.p, spec.seed)
    direction = np.ones(spec.D) / np.sqrt(spec.D)
    return Task(X[: spec.P], y[: spec.P], X[spec.P :], y[spec.P :], spec, direction, {"kind": "ising"})


# --- teacher–student -------------------------------------------------------------------------------------

def teacher_student(P: int, D: int, P_test: int = 1000, noise: float = 0.0, seed: int = 0, teacher: str = "linear"):
    """Teacher–student task: x ~ N(0, I_D), y = w*·x/√D (+ noise·N(0, 1)), w* ~ N(0, I_D).

    Returns X (P, D), y (P,), X_test (P*, D), y_test (P*,), w_star (D,).
    """
    P, D, P_test = positive_int("P", P), positive_int("D", D), positive_int("P_test", P_test)
    rng = np.random.default_rng(seed)
    w_star = rng.standard_normal(D)
    X_all = rng.standard_normal((P + P_test, D))
    z = X_all @ w_star / np.sqrt(D)
    if teacher not in _TEACHERS:
        _load_optional()  # the nonlinear teachers (e.g. "erf") register in mastcore.datasets
    y_all = _TEACHERS.get(teacher, None)
    if y_all is None:
        raise ValueError(f"'teacher' must be one of {tuple(_TEACHERS)}; got {teacher!r}")
    y_all = y_all(z) + noise * rng.standard_normal(P + P_test)
    return X_all[:P], y_all[:P], X_all[P:], y_all[P:], w_star


#: Teacher link functions y = g(w*·x/√D); the nonlinear module may add more (e.g. "erf").
_TEACHERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"linear": lambda z: z}


def _teacher_student_task(spec: TaskSpec) -> Task:
    X, y, Xs, ys, w = teacher_student(spec.P, spec.D, spec.P_test, spec.noise, spec.seed, spec.teacher)
    return Task(X, y, Xs, ys, spec, w / np.linalg.norm(w), {"kind": "teacher_student", "w_star": w})


register_task("ising", _ising_task)
register_task("teacher_student", _teacher_student_task)


# --- user data -------------------------------------------------------------------------------------------

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
    y = df[label].to_numpy(dtype=np.float64)
    Xdf = df.drop(columns=[label])
    X = Xdf.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(X)) or not np.all(np.isfinite(y)):
        raise ValueError("'source' must contain finite numbers only (no inf); got inf")
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
        mu, sd = Xtr.mean(0), Xtr.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    spec = TaskSpec(name=name, P=Xtr.shape[0], P_test=Xte.shape[0], D=Xtr.shape[1], seed=seed)
    return Task(Xtr, ytr, Xte, yte, spec, None, {"kind": "user"})
