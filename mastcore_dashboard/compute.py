"""What the dashboard computes, all through the library: tasks, theory curves (mc.sweep), reference runs,
learning curves, cost estimates and the command line that reproduces a refused computation.

No widgets here (the Streamlit modules beside it draw them) and no maths (mastcore does it): these functions turn
:class:`~mastcore_dashboard.state.Settings` into library calls and library results into tables for the figures. Every
function that may run long takes the library's ``progress(done, total, info)`` and is importable, so that
mastcore_dashboard/worker.py can run it in a worker process.
"""
from __future__ import annotations

import shlex
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

import mastcore as mc
from mastcore import cache
from mastcore.engine import METHODS, data_key
from mastcore.theory.tree.features import feature_summary

from .state import DIGIT_TASKS, MAX_TASK_BYTES, Settings
from .words import flag_sentence

#: The app's share of the disk cache (bytes; $MASTCORE_APP_CACHE_MAX_BYTES overrides): browsing alone once grew the
#: cache by 190 MB in 25 minutes. Past the cap the app's least recently used runs are evicted (mastcore.cache.set_share);
#: runs stored by scripts and the command line are not the app's and are not counted.
APP_CACHE_MAX_BYTES = 256 * 1024**2


def app_cache_max_bytes() -> int:
    """The byte cap of the app's share of the disk cache: ``$MASTCORE_APP_CACHE_MAX_BYTES`` (e.g. "1G") or 256 MiB."""
    from mastcore._plumbing.env import env_bytes  # noqa: PLC0415  (the library's one parser of byte sizes)

    return env_bytes("MASTCORE_APP_CACHE_MAX_BYTES", APP_CACHE_MAX_BYTES, allow_zero=True)


cache.set_share("app", app_cache_max_bytes())

__all__ = [
    "TheoryCurves",
    "build_task",
    "calibration",
    "cli_command",
    "default_sizes",
    "estimate_seconds",
    "exact_methods",
    "features_at",
    "kernel_spectrum",
    "learning_curves",
    "learning_methods",
    "learning_seconds",
    "predictions",
    "reference_run",
    "remedy",
    "runs",
    "spectrum_seconds",
    "stream_langevin",
    "stream_langevin_seconds",
    "stream_options",
    "task_problem",
    "theory_curves",
    "theory_methods",
    "traces",
    "width_scaling",
    "width_scaling_seconds",
]

def theory_methods(activation: str) -> tuple:
    """The theory methods of mc.sweep drawn against χ for ``activation``, in order of fidelity (docs/theory.md
    §0.1): the records of the registry mc.METHODS that draw a curve for it (a registered method included)."""
    return tuple(m for m, record in METHODS.items() if record.draws_curve(activation))


def task_problem(settings: Settings) -> str | None:
    """Why the app will not build this task (too large for its budget), or None.

    The size comes from mc.estimate_task (peak memory of building the task); the app's limit is
    mastcore_dashboard.state.MAX_TASK_BYTES, so that a link cannot make the server allocate gigabytes.
    """
    if settings.task in (*DIGIT_TASKS, "csv") or settings.problems():
        return None
    cost = mc.estimate_task(settings.task_spec())
    if cost.bytes <= MAX_TASK_BYTES:
        return None
    return (f"It would need about {cost.bytes / 2**20:,.0f} MiB to build ((P + P*)·D = "
            f"{(settings.P + settings.P_test) * settings.D:,} inputs); the app builds data sets up to "
            f"{MAX_TASK_BYTES / 2**20:.0f} MiB. Lower P* or D in the sidebar, or run it from the command line "
            "(python -m mastcore sweep ...)")


def build_task(settings: Settings, data: tuple | None = None) -> mc.Task:
    """The task of ``settings``; ``data`` = (X, y) of an uploaded CSV when ``settings.task == "csv"``.

    Raises ValueError (with the setting to change) for invalid settings, data sets that are too small, or data
    sets too large for the app (:func:`task_problem`).
    """
    n_rows = None if data is None else int(np.asarray(data[0]).shape[0])
    problems = settings.problems(n_rows if settings.task == "csv" else None)
    if problems:
        raise ValueError(" ".join(problems))
    too_big = task_problem(settings)
    if too_big:
        raise ValueError(too_big)
    if settings.task == "csv":
        if data is None:
            raise ValueError("task 'csv' needs an uploaded CSV; upload one on the Data page or choose another task")
        return mc.task_from_arrays(data[0], data[1], settings.P, seed=settings.seed)
    return mc.make_task(settings.task_spec())


# --- honest estimates: mc.estimate, calibrated once on this machine -------------------------------------------

#: The reference problem timed at first use (per method) to calibrate mc.estimate's rates on this machine.
REFERENCE = dict(P=40, P_test=100, D=80, width=40, chis=(1.0, 6.3, 40.0))
#: Smaller reference for the slow erf/ReLU ansatz (its cost grows like P² pairs × quadrature nodes).
REFERENCE_SLOW = dict(P=8, P_test=20, D=16, width=8, chis=(8.0,))
REFERENCE_OPTIONS = {"exact": dict(n_chains=8, n_sweeps=60, burn_in=10, seed=0),
                     "langevin": dict(ensemble=4, steps=300, burn_in=50, seed=0)}
#: Options of the erf/ReLU one loop's reference run.
NONLINEAR_LOOP_REFERENCE = dict(variant="renormalised", n_samples=20000, max_samples=20000, seed=0)
#: The larger reference is timed only when the small one predicts it to take less than this (seconds).
CALIBRATION_BUDGET = 0.5
#: Timings of the reference (their median is used; one when it takes more than half a second).
CALIBRATION_REPEATS = 3
#: Calibration factors are kept within these bounds (a factor outside them means the timing was disturbed).
CALIBRATION_BOUNDS = (0.002, 20.0)
#: Raw estimates below this many seconds are used as they are (calibrating would cost more than it tells).
CALIBRATE_ABOVE = 0.5

_calibration: dict = {}
_calibration_lock = threading.Lock()


def _time_reference(ref: dict, method: str, activation: str, options) -> float:
    """Wall time of mc.sweep of ``method`` on the reference problem ``ref`` (median of up to three runs)."""
    task = mc.make_task(mc.TaskSpec(name="ising", P=ref["P"], P_test=ref["P_test"], D=ref["D"], seed=0))
    spec = mc.NetworkSpec(width=ref["width"], chi=1.0, g_v=0.5, g_w=0.5, kappa0=1.0, activation=activation)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref is REFERENCE_SLOW:  # first use: imports (torch for Langevin) and first-call set-up are not the rate
            mc.sweep(task.X, task.y, spec, chis=ref["chis"], methods=(method,), X_test=task.X_test,
                     y_test=task.y_test, options=options, cache=False)
        for rep in range(CALIBRATION_REPEATS):  # the median: the machine may be shared
            opts = options
            if options and "seed" in (options.get(method) or {}):
                # a new seed per run: the sampled one loops keep their prior draws in memory (shared along χ,
                # docs/theory.md §12.9), and a repeat on the same draws would time the warm case only
                opts = {**options, method: {**options[method], "seed": rep + 1}}
            t0 = time.perf_counter()
            mc.sweep(task.X, task.y, spec, chis=ref["chis"], methods=(method,), X_test=task.X_test,
                     y_test=task.y_test, options=opts, cache=False)
            times.append(time.perf_counter() - t0)
            if times[-1] > 0.3:  # long enough to be a fair timing on its own
                break
    return float(np.median(times))


def _reference_estimate(ref: dict, method: str, activation: str, options) -> float:
    return mc.estimate_sweep(P=ref["P"], D=ref["D"], width=ref["width"], P_test=ref["P_test"],
                             activation=activation, chis=list(ref["chis"]), methods=(method,), options=options,
                             strict=False).seconds


def calibration(method: str, activation: str = "linear", ansatz: str | None = None) -> float:
    """measured / estimated seconds of ``method`` on a reference problem, timed once per process on this machine.

    mc.estimate's rates were measured on the developers' machine; this factor carries them over to the one the
    app runs on. The small reference (REFERENCE_SLOW: P = 8, one χ) is timed first — a few milliseconds for most
    methods, a few seconds for the slowest; when it took under CALIBRATION_BUDGET/5 seconds the larger REFERENCE
    (P = 40, three χ) is timed as well and its factor used, being closer to the app's sizes. No disk cache.
    """
    key = (method, activation, ansatz if method == "tree" and not mc.ACTIVATIONS[activation].linear else None)
    with _calibration_lock:
        if key in _calibration:
            return _calibration[key]
        opts = dict(REFERENCE_OPTIONS.get(method, {}))
        if method == "one_loop" and not mc.ACTIVATIONS[activation].linear:
            # a fixed number of prior samples and no variant switch: the reference measures the machine, not where
            # the data send "auto" or how often the Monte-Carlo target doubles the samples
            opts = dict(NONLINEAR_LOOP_REFERENCE)
        if key[2] is not None:
            opts["ansatz"] = ansatz
        options = {method: opts} if opts else None
        measured = _time_reference(REFERENCE_SLOW, method, activation, options)
        est = _reference_estimate(REFERENCE_SLOW, method, activation, options)
        factor = measured / max(est, 1e-9)
        if measured < CALIBRATION_BUDGET / 5:
            big = _reference_estimate(REFERENCE, method, activation, options)
            if big * factor < CALIBRATION_BUDGET:
                factor = _time_reference(REFERENCE, method, activation, options) / max(big, 1e-9)
        factor = float(np.clip(factor, *CALIBRATION_BOUNDS))
        _calibration[key] = factor
        return factor


def input_dimension(settings: Settings, task: mc.Task | None = None) -> int:
    """D of the task (digits: 64 pixels, MNIST: 784; otherwise the sidebar's D) without building it."""
    if task is not None:
        return int(task.D)
    return {"digits": 64, "mnist": 784}.get(settings.task, settings.D)


def curve_options(settings: Settings, methods) -> dict | None:
    """The sweep options of the app's theory curves: the sidebar's tree-level ansatz (erf/ReLU) and each method
    record's ``curve_options`` (mastcore.methods.Method)."""
    out = {}
    for m in methods:
        opts = METHODS[m].options_for_curve(settings.activation) if m in METHODS else {}
        if m == "tree" and not settings.linear:
            opts["ansatz"] = settings.ansatz
        if opts:
            out[m] = opts
    return out or None


def estimate_seconds(settings: Settings, methods, chis, *, options: dict | None = None,
                     task: mc.Task | None = None, calibrate: bool = True) -> float:
    """Expected seconds of mc.sweep of ``methods`` over ``chis`` (the χ values, or their number: then each point
    is priced at its most expensive χ) at these settings.

    mc.estimate_sweep (the library's measured rates) per method, times this machine's :func:`calibration`
    factor when the raw estimate is above CALIBRATE_ABOVE seconds.
    """
    P = int(task.P) if task is not None else settings.P
    P_test = int(task.X_test.shape[0]) if task is not None else settings.P_test
    D = input_dimension(settings, task)
    total = 0.0
    for m in methods:
        opts = {**(curve_options(settings, (m,)) or {}).get(m, {}), **dict((options or {}).get(m) or {})}
        if m == "langevin" and task is not None and opts.get("lambda_max") is None:
            # the record interval follows from λ_max(C0)/κ0 (docs/theory.md §13.3); unknown, the estimate assumes a
            # record per step: 6.7× the time of erf networks at the Fig.-2 sizes
            opts["lambda_max"] = kernel_lambda_max(task, settings)
        raw = mc.estimate_sweep(P=P, D=D, width=settings.width, P_test=P_test, activation=settings.activation,
                                chis=chis, methods=(m,), options={m: opts}, strict=False).seconds
        if calibrate and raw > CALIBRATE_ABOVE:
            raw *= calibration(m, settings.activation, opts.get("ansatz"))
        total += raw
    return float(total)


#: Sidebar settings a refusal may ask to lower, with their names for people.
LOWER = (("P", "P (training points)"), ("width", "N (width)"), ("D", "D (inputs)"), ("P_test", "P* (test points)"))


def remedy(settings: Settings, methods, chis, limit: float) -> str:
    """Which sidebar setting to lower, and to what, so that mc.sweep of ``methods`` over ``chis`` (the χ values,
    or their number) fits in ``limit`` seconds: each of P, N, D, P* is halved until the estimate
    (:func:`estimate_seconds`) fits; the setting that needs the fewest halvings is named."""
    best = None
    for name, label in LOWER:
        if name == "D" and settings.task in (*DIGIT_TASKS, "csv"):
            continue
        value = int(getattr(settings, name))
        for halvings in range(1, 8):
            value = max(1, value // 2)
            trial = settings.replace(**{name: value})
            grid = chis
            if name == "width" and not isinstance(chis, (int, float)):  # χ runs up to N
                grid = [c for c in chis if c <= value] or [1.0]
            if estimate_seconds(trial, methods, grid) <= limit:
                if best is None or halvings < best[0]:
                    best = (halvings, label, value)
                break
            if value == 1:
                break
    if best is None:
        return "Lower P, N and D in the sidebar"
    return f"Lower {best[1]} in the sidebar, to about {best[2]} or less"


_eig_rate: list = []
#: Size of the matrix whose eigendecomposition is timed to calibrate :func:`spectrum_seconds`.
EIG_REFERENCE = 400


def spectrum_seconds(settings: Settings, task: mc.Task | None = None) -> float:
    """Expected seconds of :func:`kernel_spectrum`: the NNGP kernel (mc.estimate) and an eigendecomposition,
    whose rate is measured once on this machine (an EIG_REFERENCE² matrix) and scaled like P³."""
    P = int(task.P) if task is not None else settings.P
    if not _eig_rate:  # the median of three timings: the machine may be shared
        a = np.random.default_rng(0).standard_normal((EIG_REFERENCE, EIG_REFERENCE))
        a = a @ a.T
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            np.linalg.eigvalsh(a)
            times.append(time.perf_counter() - t0)
        _eig_rate.append(max(float(np.median(times)), 1e-4))
    kernel = mc.estimate("nngp", P=P, D=input_dimension(settings, task), width=max(settings.width, 1),
                         activation=settings.activation).seconds
    return float(kernel + _eig_rate[0] * (P / EIG_REFERENCE) ** 3)


def kernel_spectrum(task: mc.Task, settings: Settings, progress: Callable | None = None) -> np.ndarray:
    """Eigenvalues of the NNGP kernel C0 on the train set (docs/theory.md §3), ascending."""
    C0 = mc.nngp_kernel(task.X, task.X, settings.network_spec(1.0))
    out = np.linalg.eigvalsh(C0)
    if progress is not None:
        progress(1, 1, {"method": "spectrum"})
    return out


def cli_command(settings: Settings, chis, methods, options: dict | None = None, *, out: str = "out/sweep") -> str:
    """The ``python -m mastcore sweep ...`` command line that runs this computation outside the app.

    Settings the command line has no flag for (CSV uploads, the digit labels, the erf/ReLU ansatz) are noted
    after a ``#``.
    """
    task = "ising" if settings.task == "csv" else settings.task
    chis_txt = ",".join(f"{float(c):g}" for c in chis)
    args = ["python", "-m", "mastcore", "sweep", "--task", task, "--P", str(settings.P), "--P-test",
            str(settings.P_test)]
    if settings.task not in DIGIT_TASKS:
        args += ["--D", str(settings.D)]
    if settings.task == "ising":
        args += ["--p", f"{settings.p:g}"]
    args += ["--data-seed", str(settings.seed), "--N", str(settings.width), "--g-v", f"{settings.g_v:g}",
             "--g-w", f"{settings.g_w:g}", "--kappa0", f"{settings.kappa0:g}", "--activation", settings.activation,
             "--chis", chis_txt, "--methods", ",".join(methods)]
    opts = options or {}
    if "exact" in opts:
        e = opts["exact"]
        args += ["--exact-chains", str(e.get("n_chains", 64)), "--exact-sweeps", str(e.get("n_sweeps", 2000))]
        if "seed" in e:
            args += ["--seed", str(e["seed"])]
    if "langevin" in opts:
        lv = opts["langevin"]
        args += ["--ensemble", str(lv.get("ensemble", 16)), "--steps", str(lv.get("steps", 20000))]
        if "burn_in" in lv:
            args += ["--burn-in", str(lv["burn_in"])]
        if "seed" in lv and "exact" not in opts:
            args += ["--seed", str(lv["seed"])]
    args += ["--out", out]
    line = " ".join(shlex.quote(a) for a in args)
    notes = []
    if settings.task == "csv":
        notes.append("your CSV is not available to the command line: the line uses the Ising task")
    if settings.task in DIGIT_TASKS:
        notes.append(f"labels '{settings.binary}' are set in Python (TaskSpec options), not by a flag")
    if not settings.linear and "tree" in methods:
        notes.append(f"tree-level ansatz '{settings.ansatz}' is set in Python (options={{'tree': ...}})")
    return line + (f"   # {'; '.join(notes)}" if notes else "")


# --- theory curves -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TheoryCurves:
    """Theory curves against χ: ``table`` (one row per method and χ, the columns of mc.sweep's table plus s,
    outlier and overlap for the tree level), ``sweep`` (the SweepResult) and solver ``messages``."""

    table: pd.DataFrame
    sweep: mc.SweepResult
    messages: tuple
    seconds: float

    def at(self, method: str, chi: float) -> dict | None:
        """Row of ``method`` at the χ nearest to ``chi`` (log scale), or None if the method is absent."""
        t = self.table[self.table["method"] == method]
        if t.empty:
            return None
        i = int(np.argmin(np.abs(np.log(t["chi"].to_numpy()) - np.log(chi))))
        return t.iloc[i].to_dict()

    def tree(self, chi: float):
        """Tree-level result at the χ of the sweep nearest to ``chi``."""
        return self.sweep.at("tree", chi)


def _tree_columns(sweep: mc.SweepResult, direction, g_v: float) -> pd.DataFrame:
    rows = []
    for chi, r in zip(sweep.chis, sweep.results.get("tree", ())):
        if r is None:
            continue
        eig, vec = r.top_direction()
        rows.append({"method": "tree", "chi": float(chi), "s": float(r.s), "outlier": eig / (g_v / vec.shape[0]),
                     "overlap": float(abs(vec @ direction)) if direction is not None else np.nan})
    return pd.DataFrame(rows, columns=["method", "chi", "s", "outlier", "overlap"])


def theory_curves(task: mc.Task, settings: Settings, chis, methods, *, progress: Callable | None = None,
                  cache_mode: bool | str = True) -> TheoryCurves:
    """mc.sweep of ``methods`` over ``chis`` on the task, with solver warnings collected as messages.

    ``cache_mode`` is mc.sweep's ``cache``: True (default), False, or "only" (raise mastcore.cache.CacheMiss
    instead of computing).
    """
    t0 = time.perf_counter()
    options = curve_options(settings, methods)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mc.ConvergenceWarning)
        warnings.simplefilter("always", mc.LoopBreakdownWarning)
        warnings.simplefilter("always", mc.CacheWarning)  # "could not write": the curves are not stored
        warnings.simplefilter("ignore", mc.ScaleWarning)
        res = mc.sweep(task.X, task.y, settings.network_spec(1.0), chis=chis, methods=tuple(methods),
                       X_test=task.X_test, y_test=task.y_test, options=options, cache=cache_mode,
                       progress=progress)
    table = res.table
    if "tree" in methods:
        table = table.merge(_tree_columns(res, task.direction, settings.g_v), on=["method", "chi"], how="left")
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, (mc.ConvergenceWarning, mc.LoopBreakdownWarning, mc.CacheWarning))]
    for _, r in table[~table["converged"].astype(bool)].iterrows():
        messages.append(f"{r['method']} not converged at χ = {r['chi']:g} (residual {r['residual']:.1e})")
    flagged = table[table["flags"].astype(bool)]
    for (method, flags), group in flagged.groupby(["method", "flags"], sort=False):  # one line per flag, not per χ
        at = group["chi"].to_numpy(dtype=float)
        where = (f"χ = {at[0]:g}" if at.size == 1 else f"all {at.size} χ values" if at.size == len(chis)
                 else f"{at.size} of {len(chis)} χ values ({at.min():g} … {at.max():g})")
        messages.append(f"{METHODS[method].label if method in METHODS else method} at {where}: "
                        f"{flag_sentence(flags, N=settings.width, P=int(task.P))}.")
    return TheoryCurves(table=table, sweep=res, messages=tuple(dict.fromkeys(messages)),
                        seconds=time.perf_counter() - t0)


def features_at(task: mc.Task, curves: TheoryCurves, chi: float) -> dict:
    """Feature-learning summary (mastcore.theory.tree.features) of the tree level nearest to ``chi``."""
    return feature_summary(curves.tree(chi), task.X, task.y, task.direction)


def predictions(task: mc.Task, curves: TheoryCurves, chi: float, methods=None) -> pd.DataFrame:
    """Mean predictions of each theory at the χ of the sweep nearest to ``chi``, beside the true labels.

    Columns: method, split ("train"/"test"), index, true, predicted.
    """
    frames = []
    for m in methods or curves.sweep.methods:
        if m not in curves.sweep.results or all(r is None for r in curves.sweep.results[m]):
            continue
        r = curves.sweep.at(m, chi)
        for split, y, f in (("train", task.y, r.f_train), ("test", task.y_test, r.f_test)):
            if f is None:
                continue
            frames.append(pd.DataFrame({"method": m, "split": split, "index": np.arange(len(y)),
                                        "true": np.asarray(y, dtype=float), "predicted": np.asarray(f, dtype=float)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["method", "split", "index", "true", "predicted"])


# --- reference runs (exact posterior, Langevin networks) ------------------------------------------------

def reference_run(task: mc.Task, settings: Settings, chi: float, kind: str, options: dict, *,
                  progress: Callable | None = None, cache_mode: bool | str = True,
                  point_progress: Callable | None = None):
    """Run the exact posterior (``kind="exact"``) or a Langevin ensemble (``"langevin"``) at χ through mc.sweep
    (cached on disk). Returns (result, row, messages): the result, its table row and any solver warnings.

    ``row["stored"]`` says whether the run is in the disk cache now: False when the cache could not write it (disk
    full, read-only: mastcore.cache.CacheWarning, whose message is then among the messages) or was bypassed.

    ``cache_mode="only"`` loads a stored run and raises mastcore.cache.CacheMiss instead of computing it.
    ``point_progress`` receives the sampler's own reports within the run (mc.sweep's ``point_progress``).
    """
    if kind not in ("exact", "langevin"):
        raise ValueError(f"'kind' must be 'exact' or 'langevin'; got {kind!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mc.ConvergenceWarning)
        warnings.simplefilter("always", mc.CacheWarning)
        warnings.simplefilter("ignore", mc.ScaleWarning)
        res = mc.sweep(task.X, task.y, settings.network_spec(1.0), chis=[chi], methods=(kind,), X_test=task.X_test,
                       y_test=task.y_test, options={kind: dict(options)}, cache=cache_mode, progress=progress,
                       point_progress=point_progress)
    messages = [str(w.message) for w in caught if issubclass(w.category, mc.ConvergenceWarning)]
    not_stored = [f"not stored on disk: {w.message}" for w in caught if issubclass(w.category, mc.CacheWarning)
                  and ("could not write" in str(w.message) or "running uncached" in str(w.message))]
    row = {**res.table.iloc[0].to_dict(), "stored": bool(cache_mode) and not not_stored}
    return res.results[kind][0], row, messages + not_stored


#: Blocks of a streamed Langevin run ("Train networks here"): the ensemble is trained in this many chunks, one after
#: the other, and the point is redrawn after each (at least 2 networks per block: the s.e. needs two).
STREAM_BLOCKS = 4


def stream_blocks(ensemble: int) -> int:
    """Blocks of a streamed run of ``ensemble`` networks: STREAM_BLOCKS, fewer for a small ensemble (>= 2 each)."""
    return max(1, min(STREAM_BLOCKS, int(ensemble) // 2))


def stream_options(options: dict) -> dict:
    """The Langevin options of a streamed run: ``options`` with ``chunks`` = :func:`stream_blocks` (the run's key in
    the disk cache: the Networks page lists it, mc.sweep(cache="only") loads it)."""
    return {**dict(options), "chunks": stream_blocks(options.get("ensemble", 16))}


def stream_langevin_seconds(settings: Settings, chi: float, options: dict, task: mc.Task | None = None) -> float:
    """Expected seconds of :func:`stream_langevin`: each block is a run of its share of the ensemble."""
    opts = stream_options(options)
    blocks = opts.pop("chunks")
    share = {**opts, "ensemble": max(2, -(-int(opts.get("ensemble", 16)) // blocks))}
    return blocks * estimate_seconds(settings, ("langevin",), [chi], options={"langevin": share}, task=task)


def stream_langevin(task: mc.Task, settings: Settings, chi: float, options: dict, *,
                    progress: Callable | None = None) -> dict:
    """A Langevin ensemble at χ trained block by block (:func:`stream_options`), reporting after each block the
    running estimate over the networks trained so far, and stored in the disk cache as a reference run (the one
    mc.sweep makes with these options: it stays on the Regimes chart).

    ``progress(done, total, info)``: ``done`` blocks of ``total``; info "networks" and, per split and observable,
    the running value and its standard error over the networks (``train_mean_y_delta``, ``train_mean_y_delta_se``,
    ... of mastcore.metrics.summarize). The next block starts when ``progress`` returns (the worker's Pause waits
    there). Returns the run's table row (with "stored") and its solver messages — not the result, which the disk
    cache holds (a small reply to the app).
    """
    from types import SimpleNamespace  # noqa: PLC0415
    import joblib  # noqa: PLC0415

    def on_block(done, total, info):
        chains = (info or {}).get("chain_f_train")
        if progress is None or chains is None:  # (a single block reports steps: not a new point)
            return
        test = info.get("chain_f_test")
        partial = SimpleNamespace(f_train=chains.mean(0), chain_f_train=chains,
                                  f_test=None if test is None else test.mean(0), chain_f_test=test)
        row = mc.metrics.summarize(partial, task.y, task.y_test)
        keep = {k: float(v) for k, v in row.items() if k.endswith(("mean_y_delta", "mean_sq_delta",
                                                                      "mean_y_delta_se", "mean_sq_delta_se"))}
        progress(done, total, {"networks": int(chains.shape[0]), **keep})

    # one block after the other (joblib's generator is lazy on the sequential backend): a point after each
    with joblib.parallel_config(backend="sequential"):
        _, row, messages = reference_run(task, settings, chi, "langevin", stream_options(options),
                                         point_progress=on_block)
    return {"row": {k: v for k, v in row.items() if isinstance(v, (int, float, str, bool, np.floating, np.integer))},
            "messages": list(messages)}


#: data_key of recent tasks by the identity of their arrays (the memoised tasks are reused across reruns; hashing
#: X, y, X*, y* again on every rerun of the Networks and Regimes pages costs up to ~0.1 s at the largest sizes).
_DATA_KEYS: dict = {}
_DATA_KEYS_MAX = 8


_LAMBDA: dict = {}


def kernel_lambda_max(task: mc.Task, settings: Settings) -> float:
    """λ_max(C0)/κ0 of the task's NNGP kernel (for the Langevin estimate), by Lanczos; remembered per data set and
    network (a few entries)."""
    spec = settings.network_spec(1.0)
    key = (_task_data_key(task), spec.activation, spec.g_v, spec.g_w, spec.kappa0)
    if key not in _LAMBDA:
        from scipy.sparse.linalg import eigsh  # noqa: PLC0415  (only when a Langevin run is priced)

        C0 = mc.nngp_kernel(task.X, task.X, spec)
        if C0.shape[0] > 2:
            top = float(eigsh(C0, k=1, which="LA", tol=1e-3, return_eigenvectors=False)[0])
        else:  # eigsh needs k < P
            top = float(np.linalg.eigvalsh(C0)[-1])
        if len(_LAMBDA) >= 16:
            _LAMBDA.pop(next(iter(_LAMBDA)))
        _LAMBDA[key] = top / spec.kappa0
    return _LAMBDA[key]


def _task_data_key(task: mc.Task) -> str:
    arrays = (task.X, task.y, task.X_test, task.y_test)
    ident = tuple(id(a) for a in arrays)
    hit = _DATA_KEYS.get(ident)
    if hit is not None and all(a is b for a, b in zip(hit[0], arrays)):
        return hit[1]
    key = data_key(*arrays)
    if len(_DATA_KEYS) >= _DATA_KEYS_MAX:
        _DATA_KEYS.pop(next(iter(_DATA_KEYS)), None)
    _DATA_KEYS[ident] = (arrays, key)  # the references keep the ids from being reused
    return key


def runs(task: mc.Task, settings: Settings) -> pd.DataFrame:
    """Reference runs stored in the disk cache for this data set and network (any χ, any options), newest last.

    Columns: method, chi, options, created, and the table row (train_mean_y_delta, ..._se, converged, ...).
    The list is read from the cache itself, so it always agrees with it (empty after ``cache clear``).
    """
    key = _task_data_key(task)
    network = {k: v for k, v in settings.network_spec(1.0).to_dict().items() if k != "chi"}
    rows = []
    for e in cache.entries():
        m = e.get("meta") or {}
        if m.get("data") == key and m.get("network") == network and m.get("method") in ("exact", "langevin"):
            rows.append({**m.get("row", {}), "method": m["method"], "chi": float(m["chi"]),
                         "options": m.get("options", {}), "created": e["created"]})
    df = pd.DataFrame(rows)
    return df.sort_values("created").reset_index(drop=True) if len(df) else df


def traces(result) -> dict[str, np.ndarray]:
    """Equilibration traces of a sampled result, averaged over chains: {name: (T,)} and the record steps."""
    tr = result.trace
    return {name: tr.chain_mean(name) for name in tr.values}


# --- width scaling --------------------------------------------------------------------------------------

#: References of the width scan: the exact posterior by quadrature (exact, no noise floor) or the Gibbs sampler.
WIDTH_REFERENCES = ("quadrature", "exact")


def width_scaling(task: mc.Task, settings: Settings, widths, *, methods=("nngp", "tree", "one_loop"),
                  exact_options: dict | None = None, reference: str = "exact",
                  progress: Callable | None = None) -> pd.DataFrame:
    """Error of each theory against the exact posterior as the width N grows, at χ = 1 and χ = N.

    One mc.sweep per width over χ ∈ {1, N} with the theories and the reference (cached): ``reference`` "exact"
    (the Gibbs sampler, options ``exact_options``) or "quadrature" (the exact posterior mean by quadrature,
    docs/theory.md §7.4: exact_se is 0). Returns a DataFrame with columns width, regime ("χ = 1" / "χ = N"), chi,
    method, value (train mean(y·Δ)), exact, exact_se, error.
    """
    if reference not in WIDTH_REFERENCES:
        raise ValueError(f"'reference' must be one of {WIDTH_REFERENCES}; got {reference!r}")
    rows = []
    widths = sorted(int(w) for w in widths)
    options = {**(curve_options(settings, methods) or {}),
               **({"exact": dict(exact_options or {})} if reference == "exact" else {})} or None
    for k, N in enumerate(widths):
        spec = settings.replace(width=N).network_spec(1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mc.sweep(task.X, task.y, spec, chis=[1.0, float(N)], methods=(*methods, reference),
                           options=options, cache=True)
        t = res.table.set_index(["method", "chi"])
        for regime, chi in (("χ = 1", 1.0), ("χ = N", float(N))):
            ex = t.loc[(reference, chi)]
            for m in methods:
                v = float(t.loc[(m, chi), "train_mean_y_delta"])
                se = float(ex["train_mean_y_delta_se"]) if reference == "exact" else 0.0
                rows.append(dict(width=N, regime=regime, chi=chi, method=m, value=v,
                                 exact=float(ex["train_mean_y_delta"]), exact_se=se,
                                 error=abs(v - float(ex["train_mean_y_delta"]))))
        if progress is not None:
            progress(k + 1, len(widths), {"width": N})
    return pd.DataFrame(rows)


def width_scaling_seconds(settings: Settings, widths, methods, exact_options: dict, *,
                          reference: str = "exact") -> float:
    """Expected seconds of :func:`width_scaling` (mc.estimate per width, calibrated)."""
    options = {"exact": exact_options} if reference == "exact" else None
    return float(sum(estimate_seconds(settings.replace(width=int(N)), (*methods, reference), (1.0, float(N)),
                                      options=options) for N in widths))


# --- learning curves ------------------------------------------------------------------------------------

def learning_methods(activation: str) -> tuple:
    """Methods of the learning curves: the theories, and the registry's deterministic references — the exact
    posterior by quadrature for linear networks (exact and cheap: docs/theory.md §7.4)."""
    refs = tuple(m for m, r in METHODS.items() if r.reference and not r.sampled and r.applies_to(activation))
    return (*theory_methods(activation), *refs)


def exact_methods(activation: str) -> tuple:
    """The exact posterior drawn as a curve against χ: ("quadrature",) where the sweep has it for ``activation``
    (linear networks: exact and cheap, docs/theory.md §7.4), else ()."""
    return ("quadrature",) if activation in METHODS["quadrature"].activations else ()


def default_sizes(settings: Settings, n_rows: int | None = None) -> tuple:
    """Training-set sizes of the learning curves: 1-2-5 steps from 5 up to about 4·P (at most 1000, and fewer
    than the rows of a fixed data set)."""
    top = min(max(4 * settings.P, 20), 1000)
    if n_rows is not None:
        top = min(top, n_rows - 1)
    out = [v * 10**e for e in range(0, 4) for v in (1, 2, 5) if 5 <= v * 10**e <= top]
    return tuple(out) or (max(1, top),)


def learning_curves(settings: Settings, sizes, chi: float, *, methods=None, data: tuple | None = None,
                    progress: Callable | None = None, cache_mode: bool | str = True) -> pd.DataFrame:
    """Train/test discrepancies and errors against the training-set size P at one χ (one mc.sweep per P).

    The test set stays the same (P* of the settings); each P draws its own training set from the settings' seed.
    Cached network runs (exact posterior, Langevin) at this χ are added where the disk cache has them.
    Returns a DataFrame with the columns of mc.sweep's table plus P.
    """
    methods = tuple(methods or learning_methods(settings.activation))
    frames = []
    sizes = sorted({int(p) for p in sizes})
    for k, P in enumerate(sizes):
        s = settings.replace(P=P)
        task = build_task(s, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opts = curve_options(s, methods)
            res = mc.sweep(task.X, task.y, s.network_spec(1.0), chis=[float(chi)], methods=methods,
                           X_test=task.X_test, y_test=task.y_test, options=opts, cache=cache_mode)
        frames.append(res.table.assign(P=P))
        cached = runs(task, s)
        if len(cached):
            near = cached[np.isclose(cached["chi"], float(chi), rtol=0.02)]
            if len(near):
                frames.append(near.drop_duplicates("method", keep="last").drop(columns=["options", "created"])
                              .assign(P=P))
        if progress is not None:
            progress(k + 1, len(sizes), {"P": P})
    return pd.concat(frames, ignore_index=True)


def learning_seconds(settings: Settings, sizes, methods, chi: float | None = None) -> float:
    """Expected seconds of :func:`learning_curves` at ``chi`` (mc.estimate per size, calibrated; χ unknown: its
    most expensive value)."""
    chis = 1 if chi is None else [float(chi)]
    return float(sum(estimate_seconds(settings.replace(P=int(P)), methods, chis) for P in sizes))
