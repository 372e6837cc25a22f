"""The dashboard's settings and view: the sidebar's values, presets, URL names and what makes a value invalid.

Nothing here draws widgets or computes physics: :class:`Settings` is a plain value that the widgets edit
(mastcore_dashboard/sidebar.py) and the computations read (mastcore_dashboard/compute.py). Every URL parameter is described by a
:class:`Param` (its name, type, range or choices and default) and parsed defensively by :func:`parse_query`: a
value that is not a finite number of the right type, negative, unknown or out of range never raises — it gives
the default (or the clipped value) and one message naming the parameter, with the user's text shown as a code
span so that it can never turn into markdown or a link (:func:`md_code`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from mastcore import ACTIVATIONS, NetworkSpec, ScaleWarning, TaskSpec
from mastcore.data import BINARY_TASKS

__all__ = [
    "ANSATZE",
    "BINARY_CHOICES",
    "BOUNDS",
    "DEFAULT_PRESET",
    "DIGIT_TASKS",
    "MAX_TASK_BYTES",
    "MAX_UPLOAD_COLUMNS",
    "MAX_UPLOAD_MB",
    "N_CHI",
    "N_CHI_SLOW",
    "OBSERVABLES",
    "PRESETS",
    "Param",
    "SETTING_PARAMS",
    "Settings",
    "VIEW_PARAMS",
    "WIDTH_CHOICES",
    "chi_grid",
    "default_widths",
    "md_code",
    "parse_chi",
    "parse_query",
]

#: Observables shown against χ: column suffix -> label (docs/theory.md §0.2).
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

#: Ranges of the sidebar's numbers. 0 is allowed where the page explains why it is invalid (P* = 0, N = 0).
BOUNDS = {"P": (0, 5000), "P_test": (0, 20000), "D": (0, 5000), "p": (0.0, 0.5), "width": (0, 10000),
          "kappa0": (0.0, 1e6), "g_v": (0.0, 1e6), "g_w": (0.0, 1e6), "seed": (0, 2**31 - 1)}

#: The largest data set (train + test inputs, bytes) the app builds: a link cannot make the server allocate more.
#: P = 5000, P* = 20000, D = 5000 would be 1 GB; run such sizes from the command line.
MAX_TASK_BYTES = 256 * 2**20
#: Most columns of an uploaded CSV (features up to the sidebar's largest D, and the label): a wider file is refused
#: from its header line, before its data are parsed (mc.load_csv's max_columns).
MAX_UPLOAD_COLUMNS = BOUNDS["D"][1] + 1
#: Largest upload in MB (.streamlit/config.toml server.maxUploadSize, checked by a test): a CSV cell takes at least
#: 2 bytes of text ("1,") and 8 bytes parsed, so no upload parses to more than MAX_TASK_BYTES (67 MB would); 50 MB
#: because every session keeps its upload in memory (a class of 30 on one server).
MAX_UPLOAD_MB = min(50, MAX_TASK_BYTES // 4 // 10**6)

#: Widths offered by the Width-scaling page.
WIDTH_CHOICES = (4, 8, 16, 32, 64, 128, 256, 512)


def default_widths(P: int) -> tuple:
    """Default widths of the Width-scaling page: those of WIDTH_CHOICES from P/4 to 4P, so that they bracket P
    (the one loop's expansion is in P/N, docs/theory.md §6); at least the four choices nearest P."""
    inside = tuple(c for c in WIDTH_CHOICES if P / 4 <= c <= 4 * P)
    if len(inside) >= 4:
        return inside
    near = sorted(WIDTH_CHOICES, key=lambda c: abs(np.log(c) - np.log(max(P, 1))))[:4]
    return tuple(sorted(near))

#: URL parameters Streamlit itself uses (not ours, never reported).
STREAMLIT_PARAMS = ("embed", "embed_options")
#: Longest URL value looked at; longer ones are reported (shortened) and ignored.
MAX_VALUE_CHARS = 200
#: At most this many messages about a URL; the rest are counted.
MAX_MESSAGES = 12


def md_code(text, limit: int = 60) -> str:
    """``text`` as a markdown code span: shown literally, never as markdown, a link or HTML.

    Newlines become spaces, long text is shortened to ``limit`` characters, and the fence is one backtick longer
    than the longest run of backticks inside (CommonMark's rule), so no input can close the span early.
    """
    s = re.sub(r"[\r\n\t]+", " ", str(text))
    if len(s) > limit:
        s = s[:limit] + "…"
    if not s.strip():
        return "(empty)" if not s else "`" + s + "`"
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Param:
    """One URL parameter.

    name : the name in the URL. kind : "int", "float", "choice", "ints" (comma-separated integers) or "text".
    default : the value used when the parameter is absent or invalid. lo, hi : range of numbers (finite values
    above ``hi`` or between 0 and ``lo`` are clipped; negative values, when ``lo >= 0``, give the default).
    choices : allowed values of a "choice" (or of each entry of "ints"). label : what the parameter sets.
    """

    name: str
    kind: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    label: str = ""

    def parse(self, raw) -> tuple[Any, str | None]:
        """(value, message): the parsed value (``default`` when invalid) and a markdown message or None."""
        raw = raw[-1] if isinstance(raw, (list, tuple)) and raw else raw
        name = f"'{self.name}'"
        if not isinstance(raw, str):
            return self.default, f"URL parameter {name} must be text; got a {type(raw).__name__} (ignored)"
        if len(raw) > MAX_VALUE_CHARS:
            return self.default, f"URL parameter {name} is too long ({len(raw)} characters; ignored)"
        if self.kind == "text":
            return raw, None
        if self.kind == "choice":
            if raw in self.choices:
                return raw, None
            shown = ", ".join(map(str, self.choices))
            return self.default, (f"URL parameter {name} must be one of {shown}; got {md_code(raw)} "
                                  f"(using {self._shown_default()})")
        if self.kind == "ints":
            return self._parse_ints(raw)
        return self._parse_number(raw)

    def _shown_default(self) -> str:
        if self.default is None:
            return "the default"
        if isinstance(self.default, tuple):
            return "the default " + ",".join(map(str, self.default))
        return f"the default {_fmt(self.default)}"

    def _parse_number(self, raw: str):
        name = f"'{self.name}'"
        kind = "an integer" if self.kind == "int" else "a number"
        try:
            v = float(raw.strip())
        except ValueError:
            return self.default, f"URL parameter {name} must be {kind}; got {md_code(raw)} (using {self._shown_default()})"
        if not math.isfinite(v):
            return self.default, (f"URL parameter {name} must be a finite number; got {md_code(raw)} "
                                  f"(using {self._shown_default()})")
        if self.kind == "int":
            if abs(v - round(v)) > 1e-9 * max(1.0, abs(v)):
                return self.default, (f"URL parameter {name} must be an integer; got {md_code(raw)} "
                                      f"(using {self._shown_default()})")
            v = int(round(v))
        lo, hi = self.lo, self.hi
        if v < 0 and (lo is None or lo >= 0):
            return self.default, (f"URL parameter {name} must not be negative; got {md_code(raw)} "
                                  f"(using {self._shown_default()})")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            clipped = min(max(v, lo if lo is not None else v), hi if hi is not None else v)
            clipped = int(clipped) if self.kind == "int" else float(clipped)
            return clipped, (f"URL parameter {name} must be in [{_fmt(lo)}, {_fmt(hi)}]; got {md_code(raw)} "
                             f"(clipped to {_fmt(clipped)})")
        return (int(v) if self.kind == "int" else float(v)), None

    def _parse_ints(self, raw: str):
        name = f"'{self.name}'"
        try:
            vals = [float(t) for t in raw.split(",") if t.strip()]
        except ValueError:
            vals = None
        ok = bool(vals) and all(math.isfinite(v) and v == int(v) for v in vals)
        if ok:
            vals = sorted({int(v) for v in vals})
            if self.choices:
                ok = all(v in self.choices for v in vals)
            else:
                ok = all((self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi) for v in vals)
        if not ok:
            allowed = (", ".join(map(str, self.choices)) if self.choices
                       else f"integers in [{_fmt(self.lo)}, {_fmt(self.hi)}]")
            return self.default, (f"URL parameter {name} must be a comma-separated list of {allowed}; got "
                                  f"{md_code(raw)} (using {self._shown_default()})")
        return tuple(vals), None

    def to_url(self, value) -> str:
        if self.kind == "ints":
            return ",".join(str(int(v)) for v in value)
        return _fmt(value)


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

    @property
    def linear(self) -> bool:
        """The activation is the identity (its registry record says so)."""
        return ACTIVATIONS[self.activation].linear

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
        """Settings values from URL query parameters (short names); returns (values, messages about bad ones).

        Invalid values are left out (the caller keeps its default); out-of-range numbers are clipped.
        """
        values, bad = {}, []
        for name, short in cls.QUERY.items():
            if short not in query:
                continue
            param = SETTING_PARAMS[short]
            value, msg = param.parse(query[short])
            if msg:
                bad.append(msg)
            if msg is None or "clipped" in msg:
                values[name] = value
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
            out.append(f"activation must be one of {ACTIVATIONS}; got {md_code(self.activation)}.")
        if self.binary not in BINARY_CHOICES:
            out.append(f"binary task must be one of {BINARY_CHOICES}; got {md_code(self.binary)}. Choose one in "
                       "the sidebar.")
        if self.ansatz not in tuple(ANSATZE):
            out.append(f"ansatz must be one of {tuple(ANSATZE)}; got {md_code(self.ansatz)}. Choose one in the "
                       "sidebar.")
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


def _setting_params() -> dict[str, Param]:
    labels = {"task": "task", "P": "training points", "P_test": "test points", "D": "input dimension",
              "p": "flip probability", "width": "width N", "kappa0": "noise κ0", "g_v": "g_v", "g_w": "g_w",
              "activation": "activation", "seed": "data seed", "ansatz": "tree-level ansatz", "binary": "labels"}
    choices = {"activation": tuple(ACTIVATIONS), "ansatz": tuple(ANSATZE), "binary": tuple(BINARY_CHOICES)}
    out = {}
    for f in dataclasses.fields(Settings):
        short = Settings.QUERY[f.name]
        if f.name in choices:
            out[short] = Param(short, "choice", f.default, choices=choices[f.name], label=labels[f.name])
        elif f.name == "task":  # checked against the registered tasks by the sidebar (they can change at run time)
            out[short] = Param(short, "text", f.default, label=labels[f.name])
        else:
            lo, hi = BOUNDS[f.name]
            out[short] = Param(short, "int" if isinstance(f.default, int) else "float", f.default, lo, hi,
                               label=labels[f.name])
    return out


#: The sidebar's URL parameters (short name -> Param).
SETTING_PARAMS = _setting_params()

#: URL parameters of the pages' own controls (URL name -> Param). Their values live in session state under
#: ``view.<name>`` so that they survive page switches; the pages bind their widgets to those keys.
VIEW_PARAMS = {p.name: p for p in (
    Param("split", "choice", "train", choices=("train", "test"), label="data set of the Regimes chart"),
    Param("obs", "choice", "mean_y_delta", choices=tuple(OBSERVABLES), label="observable"),
    Param("ref", "choice", "exact", choices=("exact", "langevin"), label="Networks: reference"),
    Param("chains", "int", 32, 2, 1024, label="Networks: chains"),
    Param("sweeps", "int", 400, 2, 100000, label="Networks: sweeps"),
    Param("burn", "int", 50, 0, 100000, label="Networks: burn-in sweeps"),
    Param("rseed", "int", 0, 0, 2**31 - 1, label="Networks: sampler seed"),
    Param("ens", "int", 16, 2, 4096, label="Networks: networks in the ensemble"),
    Param("steps", "int", 4000, 2, 10_000_000, label="Networks: Langevin steps"),
    Param("lburn", "int", 500, 0, 10_000_000, label="Networks: Langevin burn-in steps"),
    Param("lseed", "int", 0, 0, 2**31 - 1, label="Networks: Langevin seed"),
    Param("wsP", "int", None, 1, 5000, label="Width scaling: P"),
    Param("wsD", "int", None, 1, 5000, label="Width scaling: D"),
    Param("widths", "ints", None, choices=WIDTH_CHOICES, label="Width scaling: widths (default: bracketing P)"),
    Param("wsref", "choice", "quadrature", choices=("quadrature", "exact"), label="Width scaling: reference"),
    Param("wssweeps", "int", 600, 50, 100000, label="Width scaling: Gibbs sweeps"),
    Param("wschains", "int", 32, 2, 1024, label="Width scaling: chains"),
    Param("lcP", "ints", None, 1, 5000, label="Learning curves: training-set sizes"),
    Param("lcobs", "choice", "mean_y_delta", choices=(*OBSERVABLES, "error01"), label="Learning curves: observable"),
)}

#: χ: a number ≥ 1 (checked against the width by :func:`parse_chi`).
CHI_PARAM = Param("chi", "float", None, 1.0, None, label="χ")


def parse_chi(raw, width: int) -> tuple[float | None, str | None]:
    """χ from the URL: a finite number in [1, N]; otherwise (None, message) — None means "the page's default"."""
    value, msg = CHI_PARAM.parse(raw)
    if msg is not None:
        return None, msg.replace("(clipped to 1)", "(using the default)")
    if width < 1:  # no valid χ range while N is invalid (validate() reports N); the page's default applies
        return None, None
    if value > width:
        return None, (f"URL parameter 'chi' must be in [1, N = {width}]; got {md_code(raw[-1] if isinstance(raw, list) else raw)} "
                      "(using the default)")
    return value, None


def parse_query(query: dict, tasks: tuple) -> tuple[dict, dict, float | None, list[str]]:
    """Everything a URL says: (settings values, view values, χ or None, messages).

    ``tasks``: the task names available now. Unknown parameters are reported once each; nothing raises.
    Messages are markdown with the user's text in code spans.
    """
    msgs: list[str] = []
    settings, bad = Settings.parse_query(query)
    msgs += bad
    if "task" in settings and settings["task"] not in tasks:
        msgs.append(f"URL parameter 'task' must be one of {', '.join(tasks)}; got {md_code(settings['task'])} "
                    "(using ising)")
        settings.pop("task")
    view = {}
    for name, param in VIEW_PARAMS.items():
        if name in query:
            value, msg = param.parse(query[name])
            if msg:
                msgs.append(msg)
            if msg is None or "clipped" in msg:
                view[name] = value
    chi = None
    if "chi" in query:
        chi, msg = parse_chi(query["chi"], int(settings.get("width", Settings.width)))
        if msg:
            msgs.append(msg)
    known = set(SETTING_PARAMS) | set(VIEW_PARAMS) | {"chi", *STREAMLIT_PARAMS}
    for name in query:
        if name not in known:
            msgs.append(f"URL parameter {md_code(name, 30)} is not known here (ignored)")
    if len(msgs) > MAX_MESSAGES:
        msgs = msgs[:MAX_MESSAGES] + [f"… and {len(msgs) - MAX_MESSAGES} more problems with the URL (ignored)"]
    return settings, view, chi, msgs


def chi_grid(width: int, n: int = N_CHI) -> np.ndarray:
    """``n`` log-spaced values of χ from 1 to N (3 significant digits, both ends included, increasing)."""
    if width <= 1:
        return np.array([1.0])
    raw = np.logspace(0.0, np.log10(width), max(2, int(n)))
    vals = np.array([float(f"{v:.3g}") for v in raw])
    vals[0], vals[-1] = 1.0, float(width)
    return np.unique(vals)
