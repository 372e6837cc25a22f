"""Synthetic tasks: the Ising task and the teacher–student task (docs/theory.md §1)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import erf

from .._plumbing.validation import positive_float, positive_int
from .tasks import Task, TaskSpec

__all__ = ["ERF_TEACHER_C", "TEACHERS", "erf_teacher", "ising", "ising_task", "relu_teacher", "teacher_student",
           "teacher_student_task"]

#: Default slope of the erf teacher y = erf(c·z), z = w*·x/√D ~ N(0, 1) (c = 1: a clearly nonlinear link).
ERF_TEACHER_C = 1.0


# --- erf teacher ----------------------------------------------------------------------------------------------


def erf_teacher(c: float = ERF_TEACHER_C):
    """Link g(z) = erf(c·z) for the teacher–student task y = g(w*·x/√D) (docs/theory.md §1)."""
    c = positive_float("c", c)

    def link(z, c=c):
        return erf(c * np.asarray(z, dtype=np.float64))

    return link


#: Mean and standard deviation of relu(z) for z ~ N(0, 1): 1/√(2π) and √(1/2 − 1/(2π)).
_RELU_MEAN = 1.0 / np.sqrt(2.0 * np.pi)
_RELU_STD = np.sqrt(0.5 - 1.0 / (2.0 * np.pi))


def relu_teacher():
    """Link g(z) = (relu(z) − E relu)/std relu, z ~ N(0, 1): a standardised ReLU (zero mean, unit variance over the
    input distribution), the teacher of the error-band calibration (docs/theory.md §19.4)."""

    def link(z):
        return (np.maximum(np.asarray(z, dtype=np.float64), 0.0) - _RELU_MEAN) / _RELU_STD

    return link


#: Teacher link functions y = g(w*·x/√D).
TEACHERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"linear": lambda z: z, "erf": erf_teacher(),
                                                          "relu": relu_teacher()}


# --- Ising -----------------------------------------------------------------------------------------------

def ising(P: int, D: int, p: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ising task of docs/theory.md §1: y = ±1 with probability ½; x_j = y with probability 1 − p, else −y.

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


def ising_task(spec: TaskSpec) -> Task:
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
    y_all = TEACHERS.get(teacher, None)
    if y_all is None:
        raise ValueError(f"'teacher' must be one of {tuple(TEACHERS)}; got {teacher!r}")
    y_all = y_all(z) + noise * rng.standard_normal(P + P_test)
    return X_all[:P], y_all[:P], X_all[P:], y_all[P:], w_star




def teacher_student_task(spec: TaskSpec) -> Task:
    X, y, Xs, ys, w = teacher_student(spec.P, spec.D, spec.P_test, spec.noise, spec.seed, spec.teacher)
    return Task(X, y, Xs, ys, spec, w / np.linalg.norm(w), {"kind": "teacher_student", "w_star": w})
