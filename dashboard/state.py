"""The dashboard's settings: the sidebar's values, presets, URL names and what makes a setting invalid.

Nothing here draws widgets or computes physics: :class:`Settings` is a plain value that the widgets edit
(dashboard/widgets.py) and the computations read (dashboard/compute.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass

import numpy as np

from mastcore import ACTIVATIONS, NetworkSpec, ScaleWarning, TaskSpec
from mastcore.data import BINARY_TASKS

__all__ = [
    "ANSATZE",
    "BINARY_CHOICES",
    "DEFAULT_PRESET",
    "DIGIT_TASKS",
    "N_CHI",
    "N_CHI_SLOW",
    "OBSERVABLES",
    "PRESETS",
    "Settings",
    "chi_grid",
]

#: Observables shown against χ: column suffix -> label (docs/theory.md §0).
OBSERVABLES = {"mean_y_delta": "mean(y·Δ)", "mean_sq_delta": "mean(Δ²)"}

#: Presets of the sidebar. "Paper Fig. 2" is docs/theory.md §10's setting; "Teaching" is small enough for a demo.
PRESETS = {
    "Teaching (small, fast)": dict(
        task="ising", P=20, P_test=300, D=50, p=0.1, width=50, kappa0=1.0, g_v=0.5, g_w=0.5, activation="linear", seed=0
    ),
    "Paper Fig. 2": dict(
        task="ising", P=80, P_test=1000, D=200, p=0.1, width=100, kappa0=1.0, g_v=0.5, g_w=0.5, activation="linear",
        seed=0,
    ),
}
DEFAULT_PRESET = "Teaching (small, fast)"

#: Number of χ values of the theory curves (log-spaced from 1 to N); erf/ReLU tree levels are slower.
N_CHI = 25
N_CHI_SLOW = 9

#: Tree-level ansätze for erf/ReLU offered by the app (docs/theory.md §9).
ANSATZE = {"gaussian": "zero-mean Gaussian", "gaussian_mean": "Gaussian with mean (slow)"}

#: Image tasks and their binary label choices.
DIGIT_TASKS = ("digits", "mnist")
BINARY_CHOICES = BINARY_TASKS


@dataclass(frozen=True)
class Settings:
    """The shared sidebar settings: task (name, P, P*, D, p, seed) and network (N, κ0, g_v, g_w, activation).

    Construction does not validate (the UI must be able to hold an invalid value and explain it);
    :meth:`problems` lists what is wrong, each with the change that fixes it.
    """

    task: str = "ising"
    P: int = 20
    P_test: int = 300
    D: int = 50
    p: float = 0.1
    width: int = 50
    kappa0: float = 1.0
    g_v: float = 0.5
    g_w: float = 0.5
    activation: str = "linear"
    seed: int = 0
    ansatz: str = "gaussian"
    binary: str = "0 vs 1"

    #: short names used in URLs (query parameters)
    QUERY = {
        "task": "task", "P": "P", "P_test": "Ptest", "D": "D", "p": "p", "width": "N", "kappa0": "kappa0",
        "g_v": "gv", "g_w": "gw", "activation": "act", "seed": "seed", "ansatz": "ansatz",
        "binary": "binary",
    }

    @classmethod
    def from_preset(cls, name: str) -> "Settings":
        if name not in PRESETS:
            raise ValueError(f"'preset' must be one of {tuple(PRESETS)}; got {name!r}")
        return cls(**PRESETS[name])

    @classmethod
    def field_types(cls) -> dict:
        return {f.name: type(f.default) for f in dataclasses.fields(cls)}

    @classmethod
    def parse_query(cls, query: dict) -> tuple[dict, list[str]]:
        """Settings values from URL query parameters (short names); returns (values, messages about bad ones)."""
        types = cls.field_types()
        values, bad = {}, []
        for name, short in cls.QUERY.items():
            if short not in query:
                continue
            raw = query[short]
            raw = raw[-1] if isinstance(raw, (list, tuple)) else raw
            try:
                values[name] = types[name](float(raw)) if types[name] is int else types[name](raw)
            except (TypeError, ValueError):
                kind = {"int": "an integer", "float": "a number"}.get(types[name].__name__, "a string")
                bad.append(f"URL parameter '{short}' must be {kind}; got {raw!r} (ignored)")
        return values, bad

    def to_query(self) -> dict[str, str]:
        return {short: _fmt(getattr(self, name)) for name, short in self.QUERY.items()}

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A short stable hash of the settings (for the run index)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def problems(self, n_rows: int | None = None) -> list[str]:
        """What is invalid, each message with the remedy. ``n_rows``: rows of user data (CSV), if any."""
        out = []
        if self.P < 1:
            out.append(f"P (training points) must be at least 1; got {self.P}. Increase P in the sidebar.")
        if self.P_test < 1:
            out.append(
                f"P* (test points) must be at least 1; got {self.P_test}. Set P* to 1 or more in the sidebar "
                "(the test discrepancy needs test points)."
            )
        if self.D < 1:
            out.append(f"D (input dimension) must be at least 1; got {self.D}. Increase D in the sidebar.")
        if self.width < 1:
            out.append(f"N (width) must be at least 1; got {self.width}. Set N to 1 or more in the sidebar.")
        for name, label in (("kappa0", "κ0"), ("g_v", "g_v"), ("g_w", "g_w")):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                out.append(f"{label} must be > 0; got {v}. Choose a positive {label} in the sidebar.")
        if not 0 <= self.p <= 0.5:
            out.append(f"p (flip probability) must be in [0, 0.5]; got {self.p}. Change p in the sidebar.")
        if self.activation not in ACTIVATIONS:
            out.append(f"activation must be one of {ACTIVATIONS}; got {self.activation!r}.")
        if self.binary not in BINARY_CHOICES:
            out.append(f"binary task must be one of {BINARY_CHOICES}; got {self.binary!r}. Choose one in the sidebar.")
        if self.ansatz not in tuple(ANSATZE):
            out.append(f"ansatz must be one of {tuple(ANSATZE)}; got {self.ansatz!r}. Choose one in the sidebar.")
        if n_rows is not None and self.P >= n_rows:
            out.append(
                f"P = {self.P} must be smaller than the number of rows of the data ({n_rows}) so that test points "
                f"remain. Set P to at most {n_rows - 1} in the sidebar."
            )
        return out

    def task_spec(self) -> TaskSpec:
        options = (("binary", self.binary),) if self.task in DIGIT_TASKS else ()
        return TaskSpec(name=self.task, P=self.P, P_test=self.P_test, D=self.D, p=self.p, seed=self.seed,
                        options=options)

    def network_spec(self, chi: float = 1.0) -> NetworkSpec:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScaleWarning)
            return NetworkSpec(
                width=self.width, chi=float(chi), g_v=self.g_v, g_w=self.g_w, kappa0=self.kappa0,
                activation=self.activation,
            )


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)




def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def chi_grid(width: int, n: int = N_CHI) -> np.ndarray:
    """``n`` log-spaced values of χ from 1 to N (3 significant digits, both ends included, increasing)."""
    if width <= 1:
        return np.array([1.0])
    raw = np.logspace(0.0, np.log10(width), max(2, int(n)))
    vals = np.array([float(f"{v:.3g}") for v in raw])
    vals[0], vals[-1] = 1.0, float(width)
    return np.unique(vals)
