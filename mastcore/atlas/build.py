"""Making the network atlas: one Langevin ensemble (:func:`mastcore.train_langevin`) per preset, activation and χ.

    build_atlas(["teaching", "fig2"], ["linear", "erf", "relu"], chis=7, out="mastcore/atlas/atlas.json")

Every point stores the train and test mean(y·Δ) and mean(Δ²) with standard errors (spread over the ensemble's
networks, docs/theory.md §13.5), the rescaling factor s of the networks (mastcore.atlas.OBSERVABLES), split-R̂,
flags, wall and CPU time, seed, the trainer's options, the mastcore version and the hash of the trainer's source
(:func:`mastcore.atlas.trainer_hash`). The file is written atomically; points of other (preset, activation) pairs
already in it are kept, so presets can be made one at a time.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import brentq

from .. import __version__
from .._plumbing.budget import estimate
from ..activations import ACTIVATIONS
from ..data import TaskSpec, make_task
from ..metrics import summarize
from ..posterior.langevin import LangevinOptions, train_langevin
from ..specs import ConvergenceWarning, NetworkSpec
from ..theory.kernels.nngp import nngp_kernel
from . import ATLAS_FILE, ATLAS_PRESETS, FORMAT, MAX_BYTES, Atlas, load_atlas, trainer_hash

__all__ = ["ATLAS_OPTIONS", "N_CHI", "atlas_chis", "build_atlas", "estimate_atlas", "rescaling_factor"]

#: Trainer options of the atlas: 16 networks × 20000 steps (2000 burn-in), the library's defaults, give standard
#: errors of mean(y·Δ) of 0.1–0.3 % of the value at the Teaching preset (measured: 4000 steps already give ≤ 0.4 %).
ATLAS_OPTIONS = LangevinOptions(ensemble=16, steps=20000, burn_in=2000, seed=0)
#: χ values per (preset, activation) by default: log-spaced over [1, N].
N_CHI = 7
#: Bounds of the search for the rescaling factor s.
S_BOUNDS = (1e-6, 1e6)


def atlas_chis(width: int, chis: int | Sequence[float] = N_CHI) -> list[float]:
    """The χ values of a preset of width N: ``chis`` log-spaced values from 1 to N (an int ≥ 2), or the given
    values (each in [1, N])."""
    if isinstance(chis, (int, np.integer)) and not isinstance(chis, bool):
        if chis < 2:
            raise ValueError(f"'chis' must be at least 2 (the values span [1, N]); got {chis}")
        return [float(c) for c in np.unique(np.round(np.logspace(0.0, np.log10(width), int(chis)), 4))]
    try:
        vals = sorted({float(c) for c in chis})
    except (TypeError, ValueError):
        raise ValueError(f"'chis' must be an integer or a sequence of numbers; got {chis!r}") from None
    if not vals or any(not np.isfinite(c) or c < 1 or c > width for c in vals):
        raise ValueError(f"'chis' must be numbers in [1, N = {width}]; got {chis!r}")
    return vals


def rescaling_factor(C0: np.ndarray, y: np.ndarray, kappa0: float, mean_y_delta: float,
                     se: float = float("nan")) -> tuple[float, float]:
    """(s, s.e.) with mean(y·Δ) of the GP with kernel s·C0 equal to ``mean_y_delta`` (docs/theory.md §4.3).

    mean(y·Δ)(s) = (κ0/P) Σ_k ỹ_k² / (s λ_k + κ0) (C0 = Q diag(λ) Qᵀ, ỹ = Qᵀy) falls monotonically in s; the
    standard error follows by the delta method, se / |d mean(y·Δ)/ds|. NaN when no s in S_BOUNDS matches.
    """
    lam, Q = np.linalg.eigh(np.asarray(C0, dtype=np.float64))
    lam = np.clip(lam, 0.0, None)
    yt2 = (Q.T @ y) ** 2
    P = len(y)

    def myd(s):
        return kappa0 * float(np.sum(yt2 / (s * lam + kappa0))) / P

    lo, hi = S_BOUNDS
    g = lambda log_s: myd(np.exp(log_s)) - mean_y_delta  # noqa: E731
    if not (g(np.log(lo)) > 0 > g(np.log(hi))):
        return float("nan"), float("nan")
    s = float(np.exp(brentq(g, np.log(lo), np.log(hi), xtol=1e-12)))
    slope = kappa0 * float(np.sum(yt2 * lam / (s * lam + kappa0) ** 2)) / P
    return s, (float(se) / slope if slope > 0 else float("nan"))


def _tasks(presets) -> dict:
    bad = [p for p in presets if p not in ATLAS_PRESETS]
    if bad or not presets:
        raise ValueError(f"'presets' must be among {tuple(ATLAS_PRESETS)}; got {list(presets)!r}")
    return {p: ATLAS_PRESETS[p] for p in presets}


def _activations(activations) -> list[str]:
    acts = list(dict.fromkeys(activations))
    bad = [a for a in acts if a not in ACTIVATIONS]
    if bad or not acts:
        raise ValueError(f"'activations' must be among {tuple(ACTIVATIONS)}; got {list(activations)!r}")
    return acts


def estimate_atlas(presets, activations, chis: int | Sequence[float] = N_CHI,
                   options: LangevinOptions = ATLAS_OPTIONS) -> list[tuple[str, str, float, float]]:
    """(preset, activation, χ, estimated seconds) of every point (:func:`mastcore.estimate`'s Langevin cost model,
    told the largest NNGP eigenvalue λ_max(C0)/κ0 of the task, which sets how often the trainer records)."""
    out = []
    for key, p in _tasks(presets).items():
        t, n = p["task"], p["network"]
        task = make_task(TaskSpec(**t))
        for act in _activations(activations):
            C0 = nngp_kernel(task.X, task.X, NetworkSpec(chi=1.0, activation=act, **n))
            lam = float(np.linalg.eigvalsh(C0)[-1]) / n["kappa0"]
            cost = estimate("langevin", P=t["P"], D=t["D"], width=n["width"], P_test=t["P_test"], activation=act,
                            options=options, lambda_max=lam)
            out += [(key, act, c, cost.seconds) for c in atlas_chis(n["width"], chis)]
    return out


def _point(task, key: str, p: dict, act: str, chi: float, options: LangevinOptions, C0: np.ndarray,
           cache: bool) -> dict:
    spec = NetworkSpec(chi=chi, activation=act, **p["network"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = train_langevin(task.X, task.y, spec, task.X_test, options=options, cache=cache)
    s = summarize(res, task.y, task.y_test)
    split = lambda name: {k: _num(s[f"{name}_{k}"]) for k in  # noqa: E731
                          ("mean_y_delta", "mean_y_delta_se", "mean_sq_delta", "mean_sq_delta_se")}
    s_val, s_se = rescaling_factor(C0, task.y, spec.kappa0, s["train_mean_y_delta"], s["train_mean_y_delta_se"])
    flags = list(res.flags) + ([] if res.converged else ["not_converged"])
    return dict(
        preset=key, activation=act, chi=float(chi), train=split("train"), test=split("test"),
        s=_num(s_val), s_se=_num(s_se), r_hat=_num(res.r_hat), converged=bool(res.converged), flags=flags,
        warnings=[str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)],
        seconds=float(res.seconds), cpu_seconds=float(res.cpu_seconds), seed=int(options.seed),
        options=options.to_dict(), dt=float(res.dt), thin=int(res.thin), device=str(res.device),
        version=__version__, trainer_hash=trainer_hash(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def _num(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None  # strict JSON has no NaN


def build_atlas(presets=("teaching", "fig2"), activations=("linear", "erf", "relu"),
                chis: int | Sequence[float] = N_CHI, options: LangevinOptions = ATLAS_OPTIONS,
                progress: Callable[[int, int, dict], None] | None = None, *, out: str | Path | None = None,
                time_budget: float | None = None, cache: bool = True) -> Atlas:
    """Train one ensemble per preset × activation × χ and write the atlas to ``out`` (default: the packaged file).

    Parameters
    ----------
    presets : keys of :data:`mastcore.atlas.ATLAS_PRESETS`; activations : names of :data:`mastcore.ACTIVATIONS`.
    chis : number of log-spaced χ in [1, N] per preset, or the χ values themselves.
    options : LangevinOptions of every ensemble.
    progress : callback(done, total, info) after each point (info: the point's dict) and before the first
        (done = 0, info = {}).
    out : the JSON file; its points of other (preset, activation) pairs are kept.
    time_budget : seconds; no point is started once they are spent (the points made so far are written).
    cache : keep each trained ensemble in the disk cache (mastcore.cache), so that an interrupted build resumes
        where it stopped; the cache is keyed on the trainer's source, so other trainer code trains afresh.

    Returns the Atlas written.
    """
    if not isinstance(options, LangevinOptions):
        raise ValueError(f"'options' must be a LangevinOptions; got {type(options).__name__}")
    if time_budget is not None and not (np.isfinite(time_budget) and time_budget > 0):
        raise ValueError(f"'time_budget' must be a positive number of seconds; got {time_budget!r}")
    presets, acts = _tasks(presets), _activations(activations)
    plan = [(key, act, c) for key, p in presets.items() for act in acts
            for c in atlas_chis(p["network"]["width"], chis)]
    out = Path(out) if out is not None else ATLAS_FILE
    kept = []
    if out.exists():
        try:
            old = load_atlas(out)
        except ValueError:
            old = None
        if old is not None:
            kept = [pt for pt in old.points if (pt["preset"], pt["activation"]) not in {(k, a) for k, a, _ in plan}]
    if progress is not None:
        progress(0, len(plan), {})
    t0 = time.perf_counter()
    tasks, kernels, points = {}, {}, []
    for key, act, chi in plan:
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        p = presets[key]
        if key not in tasks:
            tasks[key] = make_task(TaskSpec(**p["task"]))
        if (key, act) not in kernels:
            spec = NetworkSpec(chi=1.0, activation=act, **p["network"])
            kernels[key, act] = nngp_kernel(tasks[key].X, tasks[key].X, spec)
        points.append(_point(tasks[key], key, p, act, chi, options, kernels[key, act], cache))
        if progress is not None:
            progress(len(points), len(plan), points[-1])
    all_presets = {**({} if not kept else old.presets), **presets}
    data = dict(format=FORMAT, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                presets={k: all_presets[k] for k in dict.fromkeys([pt["preset"] for pt in kept] + list(presets))},
                points=kept + points)
    _write(out, data)
    return load_atlas(out)


def _write(path: Path, data: dict) -> None:
    """Write ``data`` as JSON atomically (a temporary file in the same folder, then os.replace)."""
    text = json.dumps(data, indent=1, allow_nan=False, ensure_ascii=False)
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(f"atlas: {len(text.encode())} bytes would exceed the {MAX_BYTES} the package may ship; "
                         "use fewer points")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
