"""Computation helpers for interactive exploration (the dashboard, notebooks): no UI code here.

The dashboard's pages stay thin: they read plain settings, call the functions below and place the figures of
:mod:`mastcore.plots`. Everything here is plain numpy / pandas and calls the solvers of mastcore; optional parts
(one loop, exact posterior, Langevin, erf/ReLU, joblib cache) are used when importable and reported by
:func:`capabilities` otherwise.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .anneal import anneal
from .kernels import gp_predict, nngp_kernel
from .metrics import discrepancies
from .specs import ACTIVATIONS, ConvergenceWarning, LoopBreakdownWarning, NetworkSpec, ScaleWarning
from .tasks import Task, TaskSpec, available_tasks, make_task

__all__ = [
    "ANSATZE",
    "BINARY_CHOICES",
    "DEFAULT_PRESET",
    "DIGIT_TASKS",
    "OBSERVABLES",
    "PRESETS",
    "RunIndex",
    "Settings",
    "Sweep",
    "blas_threads",
    "build_task",
    "cache_dir",
    "capabilities",
    "chain_errors",
    "chi_grid",
    "estimated_seconds",
    "feature_summary",
    "prediction_summary",
    "reference_run",
    "run_index",
    "tasks",
    "theory_sweep",
    "traces",
    "tree_at",
    "width_scaling",
]

#: Observables shown against χ: column suffix -> label (THEORY §0).
OBSERVABLES = {"mean_y_delta": "mean(y·Δ)", "mean_sq_delta": "mean(Δ²)"}

#: Presets of the sidebar. "Paper Fig. 2" is THEORY §10's setting; "Teaching" is small enough for a live demo.
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

#: Number of χ values of the annealed sweep (log-spaced from 1 to N); tree level costs ~30 ms per χ at P = 80.
N_CHI = 25
#: χ values of the one-loop sweep when it is expensive (dense one loop is O(P⁶): ~4.5 s per χ at P = 80).
N_CHI_SLOW = 9
#: Above this estimated cost (seconds) a sweep is computed only on request.
AUTO_SECONDS = 5.0


#: Tree-level ansätze for erf/ReLU offered by the app (THEORY §9) and their cost per χ at P = 30, D = 60 with warm
#: starts (measured on 2 busy cores): zero-mean Gaussian ≈ 0.12 s; non-zero-mean Gaussian (ReLU's best) ≈ 22 s.
ANSATZE = {"gaussian": "zero-mean Gaussian", "gaussian_mean": "Gaussian with mean (slow)"}
ANSATZ_SECONDS = {"gaussian": 0.12, "gaussian_mean": 22.0}

#: Image tasks (mastcore.datasets) and their binary label choices.
DIGIT_TASKS = ("digits", "mnist")
BINARY_CHOICES = ("0 vs 1", "even vs odd")

# --- settings --------------------------------------------------------------------------------------------

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
        if self.ansatz not in ANSATZE:
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


def build_task(settings: Settings, data: tuple | None = None) -> Task:
    """The task of ``settings``; ``data`` = (X, y) of an uploaded CSV when ``settings.task == "csv"``.

    Raises ValueError (with the setting to change) for invalid settings or data sets that are too small.
    """
    from .tasks import task_from_arrays  # noqa: PLC0415

    n_rows = None if data is None else int(np.asarray(data[0]).shape[0])
    problems = settings.problems(n_rows if settings.task == "csv" else None)
    if problems:
        raise ValueError(" ".join(problems))
    if settings.task == "csv":
        if data is None:
            raise ValueError("task 'csv' needs an uploaded CSV; upload one on the Data page or choose another task")
        return task_from_arrays(data[0], data[1], settings.P, seed=settings.seed)
    return make_task(settings.task_spec())


def tasks() -> tuple[str, ...]:
    """Registered task names (digits/MNIST appear when mastcore.datasets is installed)."""
    return available_tasks()


# --- optional parts --------------------------------------------------------------------------------------

def _importable(module: str) -> bool:
    try:
        importlib.import_module(f"mastcore.{module}")
        return True
    except ImportError:
        return False


def capabilities() -> dict[str, bool]:
    """Which optional parts of mastcore are installed: one_loop, exact (Gibbs), langevin, nonlinear, cache."""
    return {
        "one_loop": _importable("one_loop"),
        "exact": _importable("gibbs"),
        "langevin": _importable("langevin"),
        "nonlinear": _importable("nonlinear"),
        "cache": _importable("cache"),
    }


MISSING_TEXT = {
    "one_loop": "one loop (mastcore/one_loop.py)",
    "exact": "exact posterior sampler (mastcore/gibbs.py)",
    "langevin": "Langevin training (mastcore/langevin.py)",
    "nonlinear": "erf/ReLU theory (mastcore/nonlinear.py)",
    "cache": "disk cache (mastcore/cache.py)",
}


def cache_dir() -> Path:
    """Directory of the joblib cache ($MASTCORE_CACHE_DIR, default <repo>/cache)."""
    try:
        from .cache import cache_dir as _cache_dir  # noqa: PLC0415

        return Path(_cache_dir())
    except ImportError:
        pass
    env = os.environ.get("MASTCORE_CACHE_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "cache"


def blas_threads(n: int | None):
    """Context limiting BLAS threads (threadpoolctl). The tree level works on P×P matrices (P ≲ a few hundred),
    where multi-threaded BLAS is slower than one thread, especially on a loaded machine (measured: eigh of an
    80×80 matrix 11 ms with the default threads vs 1.4 ms with one, 2 busy cores). ``None``: no limit."""
    import contextlib  # noqa: PLC0415

    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


#: Largest P for which the small-matrix solvers run with a single BLAS thread.
SINGLE_THREAD_MAX_P = 400


# --- χ grid and the annealed sweep -----------------------------------------------------------------------

def chi_grid(width: int, n: int = N_CHI) -> np.ndarray:
    """``n`` log-spaced values of χ from 1 to N (3 significant digits, both ends included, increasing)."""
    if width <= 1:
        return np.array([1.0])
    raw = np.logspace(0.0, np.log10(width), max(2, int(n)))
    vals = np.array([float(f"{v:.3g}") for v in raw])
    vals[0], vals[-1] = 1.0, float(width)
    return np.unique(vals)


def estimated_seconds(method: str, P: int, n_chi: int, activation: str = "linear", ansatz: str = "gaussian") -> float:
    """Rough cost of a sweep on 2 cores, one BLAS thread (measured at P = 80: tree 0.03 s, one loop 0.12 s per χ;
    erf/ReLU tree level: ``ANSATZ_SECONDS`` at P = 30)."""
    scale = P / 80.0
    per = {"nngp": 0.001, "tree": 0.03 * scale**3, "one_loop": 0.12 * scale**4, "rescaled": 0.01 * scale**3}
    if activation != "linear" and method == "tree":
        return float(ANSATZ_SECONDS.get(ansatz, 1.0) * (P / 30.0) ** 3 * n_chi)
    return float(per.get(method, 0.05) * n_chi)


@dataclass(frozen=True)
class Sweep:
    """Theory curves vs χ: ``table`` has one row per (χ, method) with train_/test_ discrepancy summaries,
    converged, residual, and for the tree level the rescaling s, the Σ_v outlier (in units of g_v/D) and its
    overlap with the task direction. ``messages`` are solver warnings (non-convergence, loop breakdown).
    ``trees`` holds the tree-level results, one per χ in ``chis`` (empty if "tree" was not requested)."""

    table: object  # pandas.DataFrame
    messages: tuple
    seconds: float
    chis: tuple = ()
    trees: tuple = ()

    def at(self, method: str, chi: float) -> dict | None:
        """Row of ``method`` at the χ nearest to ``chi`` (log scale), or None if the method is absent."""
        t = self.table[self.table["method"] == method]
        if t.empty:
            return None
        i = int(np.argmin(np.abs(np.log(t["chi"].to_numpy()) - np.log(chi))))
        return t.iloc[i].to_dict()

    def tree(self, chi: float):
        """Tree-level result at the χ of the sweep nearest to ``chi``, or None."""
        if not self.trees:
            return None
        return self.trees[int(np.argmin(np.abs(np.log(np.asarray(self.chis)) - np.log(chi))))]


def _tree_features(r, direction, g_v, D) -> dict:
    out = {"s": float(getattr(r, "s", np.nan))}
    try:
        eig, vec = r.top_direction()
        out["outlier"] = float(eig) / (g_v / D)
        out["overlap"] = float(abs(vec @ direction)) if direction is not None else np.nan
    except (AttributeError, TypeError, ValueError):
        out.update(outlier=np.nan, overlap=np.nan)
    return out


def _row(task, chi, method, r) -> dict:
    row = {"chi": float(chi), "method": method}
    row.update({f"train_{k}": v for k, v in discrepancies(task.y, r.f_train).items()})
    if getattr(r, "f_test", None) is not None:
        row.update({f"test_{k}": v for k, v in discrepancies(task.y_test, r.f_test).items()})
    row["converged"] = bool(getattr(r, "converged", True))
    row["residual"] = float(getattr(r, "residual", 0.0))
    return row


def theory_sweep(
    task: Task,
    settings: Settings,
    chis,
    methods=("nngp", "tree"),
    *,
    ansatz: str | None = None,
    progress: Callable | None = None,
    cache: bool | None = None,
) -> Sweep:
    """Theory curves over ``chis`` (increasing).

    Linear networks: the annealed sweep of Algorithm 1 (:func:`mastcore.anneal`, through the joblib cache when
    available). erf/ReLU: the tree level of THEORY §9 (``ansatz``, default ``settings.ansatz``),
    warm-started from the previous χ, and "rescaled", the scalar kernel renormalisation u·C0, at each χ.
    Solver warnings are collected in ``Sweep.messages`` instead of being raised. ``progress(i, n, chi)``.
    """
    import pandas as pd  # noqa: PLC0415

    if cache is None:
        cache = capabilities()["cache"]
    t0 = time.perf_counter()
    chis = np.asarray(chis, dtype=np.float64)
    linear = settings.activation == "linear"
    anneal_methods = tuple(m for m in methods if m != "rescaled" and (linear or m == "nngp"))
    loop_methods = tuple(m for m in methods if m not in anneal_methods)
    total = len(chis) * (1 + len(loop_methods))
    rows, messages, trees = [], [], ()
    with warnings.catch_warnings(record=True) as caught, blas_threads(1 if task.P <= SINGLE_THREAD_MAX_P else None):
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", LoopBreakdownWarning)
        warnings.simplefilter("ignore", ScaleWarning)

        def _prog(i, n, chi):
            if progress is not None:
                progress(i, total, chi)

        if anneal_methods:
            res = anneal(task.X, task.y, settings.network_spec(1.0), chis, methods=anneal_methods,
                         X_test=task.X_test, progress=_prog, cache=cache)
            rows += res.table(task.y, task.y_test)
            for m in anneal_methods:
                for chi, r in zip(chis, res.results[m]):
                    flags = getattr(r, "warning_flags", ())
                    if getattr(r, "breakdown", bool(flags)):
                        messages.append(f"LoopBreakdown ({m}, χ = {chi:g}): {getattr(r, 'message', '') or flags}")
            trees = res.results.get("tree", ())
        done = len(chis)
        for m in loop_methods:
            out, prev = [], None
            for chi in chis:
                spec = settings.network_spec(chi)
                if m == "rescaled":
                    r = importlib.import_module("mastcore.nonlinear").rescaled_kernel(task.X, task.y, spec, task.X_test)
                elif m == "tree":
                    nl = importlib.import_module("mastcore.nonlinear")
                    r = nl.tree_level(task.X, task.y, spec, task.X_test, ansatz=ansatz or settings.ansatz, init=prev)
                    prev = r
                else:
                    raise ValueError(f"'methods' entry {m!r} is not available for activation {settings.activation!r}")
                out.append(r)
                rows.append(_row(task, chi, m, r))
                done += 1
                _prog(done, total, float(chi))
            if m == "tree":
                trees = tuple(out)
    for row, r in zip([r for r in rows if r["method"] == "tree"], trees):
        row.update(_tree_features(r, task.direction, settings.g_v, task.D))
    for w in caught:
        if issubclass(w.category, (ConvergenceWarning, LoopBreakdownWarning)):
            messages.append(f"{w.category.__name__}: {w.message}")
    table = pd.DataFrame(rows)
    bad = table[~table["converged"].astype(bool)]
    for _, r in bad.iterrows():
        messages.append(f"{r['method']} not converged at χ = {r['chi']:g} (residual {r['residual']:.1e})")
    return Sweep(table=table, messages=tuple(dict.fromkeys(messages)), seconds=time.perf_counter() - t0,
                 chis=tuple(float(c) for c in chis), trees=tuple(trees))


def tree_at(task: Task, settings: Settings, chi: float):
    """Tree-level result (THEORY §4) at one χ, with warnings recorded: returns (result, messages)."""
    from .saddle import tree_level  # noqa: PLC0415

    with warnings.catch_warnings(record=True) as caught, blas_threads(1 if task.P <= SINGLE_THREAD_MAX_P else None):
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("ignore", ScaleWarning)
        r = tree_level(task.X, task.y, settings.network_spec(chi), X_test=task.X_test)
    return r, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


def feature_summary(task: Task, settings: Settings, tree) -> dict:
    """Feature-learning quantities at one χ (THEORY §4 'Rescaling factor').

    Returns a dict with: C0 (P, P) NNGP kernel, C (P, P) adapted kernel, order (P,) points sorted by label,
    eig (D,) spectrum of Σ_v in units of g_v/D (descending; None if unavailable), s, overlap (top eigenvector ·
    task direction), and ``rescaling_gap``: max|f_tree − GP(s_fit·C0)| / max|f_tree − f_NNGP|, the share of the
    feature-learning shift of the mean predictor that a best single rescaled kernel s_fit·C0 misses.
    """
    from scipy.optimize import minimize_scalar  # noqa: PLC0415

    with blas_threads(1 if task.P <= SINGLE_THREAD_MAX_P else None):
        return _feature_summary(task, settings, tree)


def _feature_summary(task, settings, tree):
    from scipy.optimize import minimize_scalar  # noqa: PLC0415

    spec = settings.network_spec(1.0)
    C0 = nngp_kernel(task.X, task.X, spec)
    f_nngp, _ = gp_predict(C0, task.y, settings.kappa0)
    out = dict(C0=C0, C=np.asarray(tree.C), order=np.argsort(task.y, kind="stable"),
               s=float(getattr(tree, "s", np.nan)))
    try:
        eig, vec = tree.sigma_v_eigh()
        out["eig"] = eig / (settings.g_v / task.D)
        out["overlap"] = float(abs(vec[:, 0] @ task.direction)) if task.direction is not None else np.nan
    except (AttributeError, TypeError, ValueError):
        out["eig"], out["overlap"] = None, np.nan
    shift = float(np.max(np.abs(tree.f_train - f_nngp)))

    def miss(log_s):
        f, _ = gp_predict(np.exp(log_s) * C0, task.y, settings.kappa0)
        return float(np.max(np.abs(tree.f_train - f)))

    fit = minimize_scalar(miss, bounds=(np.log(1e-3), np.log(1e3)), method="bounded", options={"xatol": 1e-10})
    out["s_fit"] = float(np.exp(fit.x))
    out["rescaling_gap"] = float(fit.fun) / shift if shift > 0 else 0.0
    out["shift"] = shift
    return out


# --- reference runs (exact posterior, Langevin) ----------------------------------------------------------

def prediction_summary(y, f, se=None, prefix: str = "") -> dict:
    """Discrepancy summaries of a sampled predictor, with standard errors propagated from per-point errors.

    The per-point errors ``se`` (n,) may be correlated; the reported s.e. of a mean is the bound for fully
    correlated errors, mean(|∂/∂f_i| se_i) (conservative, never too small).
    """
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    out = {f"{prefix}{k}": v for k, v in discrepancies(y, f).items()}
    if se is not None:
        se = np.abs(np.asarray(se, dtype=np.float64))
        delta = y - f
        out[f"{prefix}mean_y_delta_se"] = float(np.mean(np.abs(y) * se))  # ∂ mean(yΔ)/∂f_i = −y_i/n
        out[f"{prefix}mean_sq_delta_se"] = float(np.mean(2 * np.abs(delta) * se))  # ∂ mean(Δ²)/∂f_i = −2Δ_i/n
    return out


def chain_errors(y, result, prefix: str = "") -> dict:
    """Standard errors of the train summaries from independent chains (``chain_f_train`` (n_chains, P)), when
    the result has them: s.e. = std over chains / √n_chains (THEORY §7). Empty dict otherwise."""
    chains = getattr(result, "chain_f_train", None)
    if chains is None:
        chains = getattr(result, "member_f_train", None)  # Langevin ensembles
    if chains is None:
        return {}
    chains = np.asarray(chains, dtype=np.float64)
    if chains.ndim != 2 or chains.shape[0] < 2:
        return {}
    y = np.asarray(y, dtype=np.float64)
    delta = y[None, :] - chains
    n = chains.shape[0]
    return {
        f"{prefix}mean_y_delta_se": float(np.std(np.mean(y * delta, axis=1), ddof=1) / np.sqrt(n)),
        f"{prefix}mean_sq_delta_se": float(np.std(np.mean(delta**2, axis=1), ddof=1) / np.sqrt(n)),
    }


def _result_se(result, split: str):
    for name in (f"se_{split}", f"f_{split}_se", f"{split}_se"):
        v = getattr(result, name, None)
        if v is not None:
            return v
    return None


class RunIndex:
    """A small JSON-lines index of reference runs (exact posterior, Langevin, width scans) next to the joblib
    cache, so runs from earlier sessions are listed and plotted without loading them."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def add(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_json_default) + "\n")

    def records(self, **match) -> list[dict]:
        """All records whose fields equal ``match`` (latest last); unreadable lines are skipped."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if all(rec.get(k) == v for k, v in match.items()):
                    out.append(rec)
        return out


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def run_index() -> RunIndex:
    return RunIndex(cache_dir() / "app_runs.jsonl")


def reference_run(
    task: Task,
    settings: Settings,
    chi: float,
    kind: str = "exact",
    options: dict | None = None,
    *,
    progress: Callable | None = None,
    cache: bool | None = None,
    index: RunIndex | None = None,
):
    """Run the exact posterior (``kind="exact"``, linear nets) or a Langevin ensemble (``kind="langevin"``) at χ.

    ``options`` are passed on (exact: n_chains, n_sweeps, burn_in, seed; Langevin: LangevinOptions fields).
    Returns (result, record); the record (settings, χ, options, summaries with s.e., seconds) is added to
    ``index`` when given.
    """
    import mastcore as mc  # noqa: PLC0415

    if cache is None:
        cache = capabilities()["cache"]
    options = dict(options or {})
    spec = settings.network_spec(chi)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("ignore", ScaleWarning)
        if kind == "exact":
            with blas_threads(1 if task.P <= SINGLE_THREAD_MAX_P else None):  # small matrices: 1 thread is faster
                result = mc.exact_posterior(
                    task.X, task.y, spec, task.X_test, progress=progress, cache=cache, **options
                )
        elif kind == "langevin":
            lang_opts = mc.LangevinOptions(**options)
            result = mc.train_langevin(
                task.X, task.y, spec, task.X_test, options=lang_opts, progress=progress, cache=cache
            )
        else:
            raise ValueError(f"'kind' must be 'exact' or 'langevin'; got {kind!r}")
    record = {
        "kind": kind,
        "key": settings.key(),
        "settings": settings.to_dict(),
        "chi": float(chi),
        "options": options,
        "seconds": time.perf_counter() - t0,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "converged": bool(getattr(result, "converged", True)),
        "messages": [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)],
    }
    record.update(prediction_summary(task.y, result.f_train, _result_se(result, "train"), prefix="train_"))
    record.update(chain_errors(task.y, result, prefix="train_"))
    if getattr(result, "f_test", None) is not None:
        record.update(prediction_summary(task.y_test, result.f_test, _result_se(result, "test"), prefix="test_"))
    if index is not None:
        index.add(record)
    return result, record


def traces(result) -> dict[str, np.ndarray]:
    """Equilibration traces of a sampler / trainer result: every 1-D array attribute whose name contains
    'trace' or 'history' (e.g. per-sweep mean(y·Δ), loss). Dict entries are flattened to name.key."""
    out = {}
    names = [n for n in dir(result) if not n.startswith("_") and ("trace" in n or "history" in n)]
    for n in names:
        try:
            v = getattr(result, n)
        except Exception:  # noqa: BLE001  (a property may fail; traces are optional)
            continue
        items = v.items() if isinstance(v, dict) else [(None, v)]
        for k, arr in items:
            try:
                a = np.asarray(arr, dtype=np.float64)
            except (TypeError, ValueError):
                continue
            if a.ndim == 2:  # (steps, chains): show the chain average
                a = a.mean(axis=1)
            if a.ndim == 1 and a.size > 1:
                out[n if k is None else f"{n}.{k}"] = a
    return out


# --- width scaling ---------------------------------------------------------------------------------------

def width_scaling(
    settings: Settings,
    widths,
    *,
    methods=("nngp", "tree"),
    exact_options: dict | None = None,
    progress: Callable | None = None,
    cache: bool | None = None,
):
    """Error of each theory against the exact posterior as the width N grows, at χ = 1 and χ = N.

    For each N in ``widths`` and χ ∈ {1, N}: theory (annealing from χ = 1 is not needed, THEORY §4) and the
    exact posterior (:func:`mastcore.exact_posterior`, linear nets). Returns a DataFrame with columns
    width, regime ("χ = 1" / "χ = N"), chi, method, value (train mean(y·Δ)), exact, exact_se and
    error = |value − exact|.
    """
    import pandas as pd  # noqa: PLC0415

    import mastcore as mc  # noqa: PLC0415

    if cache is None:
        cache = capabilities()["cache"]
    task = build_task(settings)
    widths = [int(w) for w in widths]
    rows = []
    total = 2 * len(widths)
    done = 0
    for N in widths:
        s_N = settings.replace(width=N)
        for regime, chi in (("χ = 1", 1.0), ("χ = N", float(N))):
            spec = s_N.network_spec(chi)
            with warnings.catch_warnings(), blas_threads(1 if task.P <= SINGLE_THREAD_MAX_P else None):
                warnings.simplefilter("ignore")
                th = anneal(task.X, task.y, spec, [chi], methods=methods, X_test=None, cache=cache)
                ex = mc.exact_posterior(task.X, task.y, spec, None, cache=cache, **dict(exact_options or {}))
            ex_sum = prediction_summary(task.y, ex.f_train, _result_se(ex, "train"))
            ex_sum.update(chain_errors(task.y, ex))
            for m in methods:
                v = discrepancies(task.y, th.results[m][0].f_train)["mean_y_delta"]
                rows.append(
                    dict(width=N, regime=regime, chi=chi, method=m, value=v, exact=ex_sum["mean_y_delta"],
                         exact_se=ex_sum.get("mean_y_delta_se", np.nan), error=abs(v - ex_sum["mean_y_delta"]))
                )
            done += 1
            if progress is not None:
                progress(done, total, {"width": N, "chi": chi})
    return pd.DataFrame(rows)
