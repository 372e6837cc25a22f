"""Tasks: data sets with a train/test split and a "task direction" in input space (docs/theory.md §1).

A task is described by a plain, hashable :class:`TaskSpec` (what the cache keys on) and materialised by
:func:`make_task`. Task kinds register a builder with :func:`register_task` (mastcore.data registers the built-in
ones: ising, teacher_student, digits, mnist).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._plumbing.validation import positive_float, positive_int

__all__ = ["Task", "TaskSpec", "available_tasks", "check_options", "make_task", "register_task", "standardize"]


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
        object.__setattr__(self, "options", _check_pairs(self.options))
        if self.name in _BUILDERS:
            check_options(self.name, self.options)

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
#: The options each registered task accepts: {task: {option: allowed values, or None for any string}}.
_OPTIONS: dict[str, dict | None] = {}


def _check_pairs(options) -> tuple:
    """``options`` as a tuple of (name, value) pairs with string names; ValueError naming 'options' otherwise."""
    if isinstance(options, dict):
        options = tuple(options.items())
    try:
        pairs = tuple(tuple(p) if isinstance(p, (tuple, list)) else (p,) for p in options)
    except TypeError:
        pairs = None
    if pairs is None or any(len(p) != 2 or not isinstance(p[0], str) for p in pairs):
        raise ValueError(f"'options' must be a tuple of (name, value) pairs such as (('binary', 'even vs odd'),); "
                         f"got {options!r}"[:300])
    names = [p[0] for p in pairs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"'options' must name each option once; got {dup} more than once")
    for key, value in pairs:  # a TaskSpec is a cache key: every value must be hashable (a list is not)
        try:
            hash(value)
        except TypeError:
            raise ValueError(f"option '{key}' of 'options' must be a plain hashable value (a number, string or "
                             f"tuple); got {type(value).__name__} {value!r}"[:300]
                             + (f"; use the tuple {tuple(value)!r}" if isinstance(value, list) else "")) from None
    return pairs


def check_options(name: str, options: tuple) -> None:
    """ValueError naming the option when ``options`` do not fit the registered task ``name``."""
    allowed = _OPTIONS.get(name)
    if allowed is None:  # registered without a declaration: the builder checks its own options
        return
    for key, value in options:
        if key not in allowed:
            raise ValueError(f"'{key}' is not an option of task {name!r}; its options are "
                             f"{tuple(allowed) or 'none'}")
        choices = allowed[key]
        if choices is None:
            if not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"'{key}' must be a string or path; got {value!r}")
        elif value not in choices:
            raise ValueError(f"'{key}' must be one of {tuple(choices)}; got {value!r}")


def register_task(name: str, builder: Callable[[TaskSpec], Task], options: dict | None = None) -> None:
    """Register ``builder(spec) -> Task`` under ``name`` (the built-in tasks are registered by mastcore.data).

    ``options`` declares the task's options, {option: allowed values or None (any string)}; TaskSpec then
    rejects an unknown option or value naming it. None: the builder checks its own options.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"'name' must be a non-empty string; got {name!r}")
    _BUILDERS[name] = builder
    _OPTIONS[name] = None if options is None else dict(options)


def available_tasks() -> tuple[str, ...]:
    """Names of the registered tasks."""
    return tuple(_BUILDERS)


def make_task(spec: TaskSpec) -> Task:
    """Build the task described by ``spec``."""
    if not isinstance(spec, TaskSpec):
        raise ValueError(f"'spec' must be a mastcore.TaskSpec; got {type(spec).__name__}")
    if spec.name not in _BUILDERS:
        raise ValueError(f"'name' must be one of {tuple(_BUILDERS)}; got {spec.name!r}")
    check_options(spec.name, spec.options)
    return _BUILDERS[spec.name](spec)


def standardize(X_train, X_test=None):
    """Per-feature standardisation with the train statistics; constant features become 0.

    Returns X_train (P, D), X_test (P*, D) or None, both float64.
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    mu = X_train.mean(0)
    sd = X_train.std(0)
    sd = np.where(sd > 0, sd, np.inf)  # constant pixels -> 0 after centring
    out = (X_train - mu) / sd
    return out, None if X_test is None else (np.asarray(X_test, dtype=np.float64) - mu) / sd
