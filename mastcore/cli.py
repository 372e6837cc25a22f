"""Command line: ``python -m mastcore sweep | fig2 | atlas | cache | app`` (installed: ``mastcore ...``).

    python -m mastcore sweep --task ising --P 80 --D 200 --N 100 --chis 1,2,5,10,20,50,100 \\
        --methods nngp,tree,one_loop,exact,langevin --out DIR
    python -m mastcore fig2 --out DIR [--small]
    python -m mastcore atlas --presets teaching,fig2 --activations linear,erf,relu --n-chi 7 [--out FILE]
    python -m mastcore cache info | clear [--yes]
    mastcore app [Streamlit options, e.g. --server.port 8601 --server.headless true]

A sweep runs :func:`mastcore.sweep` (the library's one sweep engine), prints a table and writes ``sweep.csv``,
``sweep.json`` (task spec, network spec, options, package version and code hash, rows) and ``sweep.html``
(standalone plotly figure of train/test mean(y·Δ) vs χ) to ``--out``, all three or none. Sampled methods (exact,
langevin) run one independent job per χ, so ``--backend loky|dask|ray`` (and ``--scheduler`` for an existing dask
cluster) spread them. Results are cached (``--no-cache`` to bypass). Bad arguments give a one-line error and exit
code 2.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from ._plumbing.budget import Cost, check, estimate_sweep, estimate_task
from .cache import cache_info, clear_cache, format_info, source_hash
from .data import TaskSpec, available_tasks, make_task
from .plots import regimes_figure
from .posterior.langevin import LangevinOptions
from .specs import ACTIVATIONS, NetworkSpec
from .engine import METHODS, sweep

__all__ = ["FIG2_NET", "FIG2_TASK", "app_script", "main"]

SAMPLED = tuple(m for m, d in METHODS.items() if d.sampled)
#: The paper's Fig.-2 setting (docs/theory.md §10): Ising task, P = 80, D = 200, p = 0.1; N = 100, κ0 = 1, g = 0.5.
FIG2_TASK = dict(name="ising", P=80, P_test=1000, D=200, p=0.1, seed=0)
FIG2_NET = dict(width=100, g_v=0.5, g_w=0.5, kappa0=1.0, activation="linear")
FIG2_SMALL_TASK = dict(name="ising", P=20, P_test=200, D=40, p=0.1, seed=0)
FIG2_SMALL_NET = dict(width=20, g_v=0.5, g_w=0.5, kappa0=1.0, activation="linear")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's contract), never a traceback
        self.exit(2, f"{self.prog}: error: {message}\n")


def _float_list(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1,2,5; got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"expected at least one value; got {text!r}")
    if any(not np.isfinite(v) or v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"every chi must be a finite number >= 1; got {text!r}")
    return sorted(set(vals))


def _method_list(text: str) -> tuple[str, ...]:
    methods = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"methods must be among {','.join(METHODS)}; got {text!r}")
    return methods


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return v


def _activation(text: str) -> str:
    if text not in ACTIVATIONS:
        raise argparse.ArgumentTypeError(f"'activation' must be one of {', '.join(ACTIVATIONS)}; got {text!r}")
    return text


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("samplers")
    g.add_argument("--exact-chains", type=_positive_int, default=64, help="exact posterior: chains (default 64)")
    g.add_argument("--exact-sweeps", type=_positive_int, default=2000, help="exact posterior: sweeps (default 2000)")
    g.add_argument("--ensemble", type=_positive_int, default=16, help="Langevin: networks (default 16)")
    g.add_argument("--steps", type=_positive_int, default=20000, help="Langevin: steps incl. burn-in (default 20000)")
    g.add_argument("--burn-in", type=int, default=None, help="Langevin: burn-in steps (default steps/10)")
    g.add_argument("--dt", type=float, default=None, help="Langevin: step size (default automatic)")
    g.add_argument("--device", default="auto", help="Langevin: auto|cpu|cuda (default auto)")
    g.add_argument("--chunks", type=_positive_int, default=1,
                   help="Langevin: split each ensemble into this many chunks, spread by --backend (default 1)")
    g.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    s = p.add_argument_group("execution")
    s.add_argument("--backend", choices=("sequential", "loky", "dask", "ray"), default="sequential",
                   help="joblib backend for the sampled χ points (default sequential)")
    s.add_argument("--n-jobs", type=int, default=None, help="parallel workers (default: backend's choice)")
    s.add_argument("--scheduler", default=None, help="address of an existing dask scheduler (with --backend dask)")
    s.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    s.add_argument("--out", default=None, help="output directory for CSV, JSON and HTML")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mastcore", description="MSA theory of feature learning: sweeps, Fig. 2, cache.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sw = sub.add_parser("sweep", help="discrepancy vs χ for several methods")
    sw.add_argument("--task", default="ising", help="task name (ising, teacher_student, digits, mnist)")
    sw.add_argument("--P", type=_positive_int, default=80, help="training points")
    sw.add_argument("--P-test", type=_positive_int, default=1000, help="test points")
    sw.add_argument("--D", type=_positive_int, default=200, help="input dimension")
    sw.add_argument("--p", type=float, default=0.1, help="Ising flip probability")
    sw.add_argument("--noise", type=float, default=0.0, help="teacher–student label noise")
    sw.add_argument("--data-seed", type=int, default=0, help="data seed")
    sw.add_argument("--N", type=_positive_int, default=100, help="width")
    sw.add_argument("--g-v", type=float, default=0.5)
    sw.add_argument("--g-w", type=float, default=0.5)
    sw.add_argument("--kappa0", type=float, default=1.0)
    sw.add_argument("--activation", default="linear", type=_activation, choices=tuple(ACTIVATIONS),
                    help=f"one of {', '.join(ACTIVATIONS)} (default linear)")
    sw.add_argument("--chis", type=_float_list, default=_float_list("1,2,5,10,20,50,100"))
    sw.add_argument("--methods", type=_method_list, default=("nngp", "tree"),
                    help=f"comma-separated, among {','.join(METHODS)} (default nngp,tree)")
    _add_run_options(sw)

    fg = sub.add_parser("fig2", help="reproduce the paper's Fig. 2 (train and test discrepancy vs χ)")
    fg.add_argument("--small", action="store_true", help="small, fast version (CI)")
    _add_run_options(fg)

    _add_atlas_parser(sub)

    ca = sub.add_parser("cache", help="inspect or empty the cache")
    ca.add_argument("action", choices=("info", "clear"))
    ca.add_argument("--yes", action="store_true", help="clear without asking")

    # every argument after `app` goes to `streamlit run` as it is ("+" prefix: no "-" option of its own)
    ap = sub.add_parser("app", prefix_chars="+", help="start the dashboard (options go to `streamlit run`)",
                        description="Start the dashboard: `streamlit run <app.py> ARGS`.")
    ap.add_argument("streamlit_args", nargs="*", metavar="ARGS",
                    help="Streamlit options, e.g. --server.port 8601 --server.headless true")
    return parser


# --- output ------------------------------------------------------------------------------------------------

def format_table(table) -> str:
    """Plain-text table: χ, method, train/test mean(y·Δ) (± s.e. for sampled methods), converged."""
    head = f"{'chi':>8}  {'method':<17} {'train mean(y·Δ)':>22} {'test mean(y·Δ)':>22}  conv"
    lines = [head, "-" * len(head)]

    def cell(row, split):
        v, se = row[f"{split}_mean_y_delta"], row[f"{split}_mean_y_delta_se"]
        if not np.isfinite(v):
            return f"{'—':>22}"
        return f"{v:>11.6f} ± {se:<8.2g}" if np.isfinite(se) else f"{v:>22.6f}"

    order = {m: k for k, m in enumerate(METHODS)}
    rank = table["method"].map(order)
    for _, row in table.assign(_rank=rank).sort_values(["chi", "_rank"]).iterrows():
        lines.append(f"{row['chi']:>8.4g}  {row['method']:<17} {cell(row, 'train')} {cell(row, 'test')}  "
                     f"{'yes' if row['converged'] else 'NO'}")
    return "\n".join(lines)


def figure_html(table, title: str) -> str:
    """Standalone HTML: train and test mean(y·Δ) vs χ (theory curves, sampled points with error bars)."""
    curves = table[~table["method"].isin(SAMPLED)]
    refs = table[table["method"].isin(SAMPLED)].rename(columns={"method": "kind"})
    parts = []
    for k, split in enumerate(("train", "test")):
        col = f"{split}_mean_y_delta"
        if not np.isfinite(table[col]).any():
            continue
        fig = regimes_figure(curves, col, refs=refs if len(refs) else None, ylabel="mean(y·Δ)",
                             title=f"{title}: {split} discrepancy")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if k == 0 else False))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            + "\n".join(parts) + "</body></html>")


def write_outputs(out: Path, stem: str, table, meta: dict) -> list[Path]:
    """Write ``stem``.csv/.json/.html into ``out`` atomically: all three files are replaced, or none is.

    Every text is rendered first (a failing figure writes nothing), then written to a temporary file in ``out``
    and synced; only then are the files renamed into place (``os.replace``). Should a rename fail half-way, the
    files already replaced are restored from backups of the previous ones (hard links, or copies where the file
    system has none), so the three stay in step.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = table.to_dict(orient="records")
    contents = {
        out / f"{stem}.csv": table.to_csv(index=False),
        out / f"{stem}.json": json.dumps({**meta, "rows": rows}, indent=1, default=_json_default),
        out / f"{stem}.html": figure_html(table, meta.get("title", stem)),
    }
    temps, backups, replaced = [], {}, []
    try:
        for path, text in contents.items():  # every file is complete on disk before any is renamed into place
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=out)
            temps.append(tmp)
            os.fchmod(fd, FILE_MODE & ~_umask())  # mkstemp makes 0600; an output file follows the umask like open()
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for path in contents:  # keep the previous files reachable until all new ones are in place
            if path.exists():
                backup = f"{tmp}.previous-{path.suffix.lstrip('.')}"
                try:
                    os.link(path, backup)
                except OSError:  # a file system without hard links (some network and FUSE mounts): a copy
                    shutil.copy2(path, backup)
                backups[path] = backup
        try:
            for tmp, path in zip(temps, contents):
                os.replace(tmp, path)
                replaced.append(path)
        except BaseException:
            for path in replaced:  # roll back: the previous set (or no file) again
                with contextlib.suppress(OSError):
                    if path in backups:
                        os.replace(backups[path], path)
                    else:
                        os.unlink(path)
            raise
    finally:
        for tmp in [*temps, *backups.values()]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return list(contents)


#: Mode of an output file before the umask (what ``open(path, "w")`` would give).
FILE_MODE = 0o666


def _umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --- running ----------------------------------------------------------------------------------------------

def _sampler_options(args) -> dict:
    steps = args.steps
    burn = args.burn_in if args.burn_in is not None else steps // 10
    lang = dict(ensemble=args.ensemble, steps=steps, burn_in=burn, dt=args.dt, device=args.device, seed=args.seed,
                chunks=args.chunks)
    LangevinOptions(**lang)  # validates (ValueError names the argument)
    sweeps = args.exact_sweeps
    if sweeps < 2:
        raise ValueError("'--exact-sweeps' must be at least 2")
    exact = dict(n_chains=args.exact_chains, n_sweeps=sweeps, burn_in=max(1, sweeps // 10), seed=args.seed)
    return {"langevin": lang, "exact": exact}


#: Input dimension of the image tasks (their D is fixed by the data, not by --D).
_FIXED_D = {"digits": 64, "mnist": 784}


def check_budget(task_spec, spec, chis, methods, options) -> Cost:
    """The task and the whole sweep against the memory budget, before the task is built (docs/theory.md §16).

    Raises :class:`mastcore.ResourceError` (one line, exit code 2 from :func:`main`) when they would not fit."""
    D = _FIXED_D.get(task_spec.name, task_spec.D)
    cost = estimate_task(task_spec) + estimate_sweep(P=task_spec.P, D=D, width=spec.width, P_test=task_spec.P_test,
                                                      activation=spec.activation, chis=chis, methods=methods,
                                                      options=options, strict=False)
    return check(cost, remedy="use smaller --P, --P-test, --D, fewer --chis or smaller sampler options, or raise "
                              "the limit")


def _run(args, task_spec, spec, chis, methods, options) -> tuple:
    """mc.sweep on the task with a progress bar; returns (SweepResult, seconds)."""
    check_budget(task_spec, spec, chis, methods, options)
    task = make_task(task_spec)
    backend = None
    if args.backend != "sequential":
        backend = {"name": args.backend, "n_jobs": args.n_jobs, "scheduler": args.scheduler}
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm  # noqa: PLC0415  (only for interactive runs)

        bar = tqdm(total=1, desc="sweep", unit="point")

    def progress(done, total, info):
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(f"{info.get('method')} χ={info.get('chi', float('nan')):.3g}")
            bar.refresh()

    def show(message, category, filename, lineno, file=None, line=None):
        text = f"python -m mastcore {args.command}: warning: {category.__name__}: {' '.join(str(message).split())}"
        if bar is not None:
            bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # the library's warnings (χ > N, not converged, labels not ±1, cache not written) on stderr, one line
            # each, once per message
            warnings.simplefilter("default", UserWarning)
            warnings.simplefilter("default", RuntimeWarning)
            warnings.showwarning = show
            res = sweep(task.X, task.y, spec, chis=chis, methods=methods, X_test=task.X_test, y_test=task.y_test,
                        options=options, cache=not args.no_cache, progress=progress, backend=backend)
    finally:
        if bar is not None:
            bar.close()
    return res, time.perf_counter() - t0


def _meta(task_spec, spec, chis, methods, options, seconds, title) -> dict:
    return {
        "title": title,
        "task": task_spec.to_dict(),
        "network": {k: v for k, v in spec.to_dict().items() if k != "chi"},
        "chis": list(map(float, chis)),
        "methods": list(methods),
        "options": options,
        "version": __version__,
        "code": source_hash("mastcore.engine"),
        "seconds": seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cmd_sweep(args, parser) -> int:
    try:
        task_spec = TaskSpec(name=args.task, P=args.P, P_test=args.P_test, D=args.D, p=args.p, noise=args.noise,
                             seed=args.data_seed)
        if task_spec.name not in available_tasks():
            raise ValueError(f"'task' must be one of {available_tasks()}; got {task_spec.name!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = NetworkSpec(width=args.N, chi=1.0, g_v=args.g_v, g_w=args.g_w, kappa0=args.kappa0,
                               activation=args.activation)
        for m in args.methods:
            if spec.activation not in METHODS[m].activations:
                raise ValueError(f"method {m!r} needs --activation linear; got {spec.activation!r}")
        options = {m: o for m, o in _sampler_options(args).items() if m in args.methods}
    except ValueError as exc:
        parser.error(str(exc))
    res, seconds = _run(args, task_spec, spec, args.chis, args.methods, options)
    print(format_table(res.table))
    if args.out:
        meta = _meta(task_spec, spec, args.chis, args.methods, options, seconds, "sweep")
        for p in write_outputs(Path(args.out), "sweep", res.table, meta):
            print(f"wrote {p}")
    return 0


def _cmd_fig2(args, parser) -> int:
    small = args.small
    task_spec = TaskSpec(**(FIG2_SMALL_TASK if small else FIG2_TASK))
    spec = NetworkSpec(chi=1.0, **(FIG2_SMALL_NET if small else FIG2_NET))
    N = spec.width
    chis = np.unique(np.round(np.logspace(0, np.log10(N), 9 if small else 25), 6))
    chis_s = [1.0, float(np.sqrt(N)), float(N)] if small else [1.0, 3.0, 10.0, 30.0, 100.0]
    chis = np.unique(np.concatenate([chis, chis_s]))
    if small:  # short sampler runs (CI); the full figure uses the CLI defaults
        args.steps = 1500 if args.steps == 20000 else args.steps
        args.exact_sweeps = 200 if args.exact_sweeps == 2000 else args.exact_sweeps
        args.ensemble = 8 if args.ensemble == 16 else args.ensemble
        args.exact_chains = 16 if args.exact_chains == 64 else args.exact_chains
    methods = ("nngp", "tree", "one_loop", "exact", "langevin")
    try:
        options = _sampler_options(args)
    except ValueError as exc:
        parser.error(str(exc))
    options = {m: {**o, "chis": chis_s} for m, o in options.items()}
    res, seconds = _run(args, task_spec, spec, chis, methods, options)
    print(format_table(res.table))
    out = Path(args.out or "out/fig2")
    meta = _meta(task_spec, spec, chis, methods, options, seconds, "Fig. 2" + (" (small)" if small else ""))
    for p in write_outputs(out, "fig2", res.table, meta):
        print(f"wrote {p}")
    return 0


def _cmd_cache(args, parser) -> int:
    if args.action == "info":
        print(format_info(cache_info()))
        return 0
    info = cache_info()
    if not args.yes:
        prompt = f"delete {info['entries']} cache entries ({info['bytes']} bytes) in {info['path']}? [y/N] "
        try:
            answer = input(prompt)
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    freed = clear_cache()
    print(f"cleared {info['path']}: freed {freed} bytes, {cache_info()['entries']} entries left")
    return 0


# --- atlas -------------------------------------------------------------------------------------------------

def _name_list(text: str) -> list[str]:
    names = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names; got {text!r}")
    return names


def _add_atlas_parser(sub) -> None:
    from .atlas.build import ATLAS_OPTIONS, N_CHI  # noqa: PLC0415

    at = sub.add_parser("atlas", help="train the network atlas (Langevin ensembles at the presets) into a data file")
    at.add_argument("--presets", type=_name_list, default=["teaching", "fig2"], help="teaching,fig2 (default both)")
    at.add_argument("--activations", type=_name_list, default=["linear", "erf", "relu"],
                    help="default linear,erf,relu")
    at.add_argument("--n-chi", type=_positive_int, default=N_CHI,
                    help=f"log-spaced chi values in [1, N] per preset (default {N_CHI})")
    at.add_argument("--ensemble", type=_positive_int, default=ATLAS_OPTIONS.ensemble,
                    help=f"networks per point (default {ATLAS_OPTIONS.ensemble})")
    at.add_argument("--steps", type=_positive_int, default=ATLAS_OPTIONS.steps,
                    help=f"steps incl. burn-in (default {ATLAS_OPTIONS.steps})")
    at.add_argument("--burn-in", type=int, default=None, help="burn-in steps (default steps/10)")
    at.add_argument("--device", default=ATLAS_OPTIONS.device, help="auto|cpu|cuda (default auto)")
    at.add_argument("--seed", type=int, default=ATLAS_OPTIONS.seed, help="seed (default 0)")
    at.add_argument("--out", default=None, help="the JSON file (default: the packaged mastcore/atlas/atlas.json)")
    at.add_argument("--time-budget", type=float, default=None,
                    help="seconds: refuse when the estimate exceeds them, start no point once they are spent")
    at.add_argument("--no-cache", action="store_true", help="do not read or write the cache (default: each "
                    "point is cached, so an interrupted build resumes)")
    at.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cmd_atlas(args, parser) -> int:
    from .atlas.build import build_atlas, estimate_atlas  # noqa: PLC0415
    from ._plumbing.budget import format_seconds  # noqa: PLC0415

    try:
        burn = args.burn_in if args.burn_in is not None else args.steps // 10
        options = LangevinOptions(ensemble=args.ensemble, steps=args.steps, burn_in=burn, device=args.device,
                                  seed=args.seed)
        if args.n_chi < 2:
            raise ValueError(f"'--n-chi' must be at least 2 (the values span [1, N]); got {args.n_chi}")
        if args.time_budget is not None and not (np.isfinite(args.time_budget) and args.time_budget > 0):
            raise ValueError(f"'--time-budget' must be a positive number of seconds; got {args.time_budget}")
        plan = estimate_atlas(args.presets, args.activations, args.n_chi, options)
    except ValueError as exc:
        parser.error(str(exc))
    total = sum(p[3] for p in plan)
    per = {}
    for key, act, _, sec in plan:
        per.setdefault((key, act), []).append(sec)
    print(f"atlas: {len(plan)} points, {options.ensemble} networks x {options.steps} steps each; estimated "
          f"{format_seconds(total)} in all")
    for (key, act), secs in per.items():
        print(f"  {key:<9} {act:<7} {len(secs)} chi values, ~{format_seconds(sum(secs))}")
    if args.time_budget is not None and total > args.time_budget:
        print(f"python -m mastcore atlas: error: the estimate ({format_seconds(total)}) exceeds --time-budget "
              f"({format_seconds(args.time_budget)}); use fewer --steps, --ensemble, --n-chi or presets",
              file=sys.stderr)
        return 2
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(plan), desc="atlas", unit="point")

    def progress(done, n, info):
        if info:
            line = (f"{info['preset']:<9} {info['activation']:<7} chi={info['chi']:<8.4g} train mean(y·Δ) = "
                    f"{info['train']['mean_y_delta']:.5f} ± {info['train']['mean_y_delta_se'] or float('nan'):.2g}  "
                    f"R̂ = {info['r_hat'] or float('nan'):.3f}  {info['seconds']:.1f} s"
                    + ("" if info["converged"] else "  NOT CONVERGED"))
            (bar.write if bar is not None else print)(line)
        if bar is not None:
            bar.n = done
            bar.refresh()

    try:
        atlas = build_atlas(args.presets, args.activations, args.n_chi, options, progress, out=args.out,
                            time_budget=args.time_budget, cache=not args.no_cache)
    finally:
        if bar is not None:
            bar.close()
    made = sum(1 for p in atlas.points if p["preset"] in args.presets and p["activation"] in args.activations)
    print(f"wrote {atlas.path}: {len(atlas.points)} points ({made} made now), trainer {atlas.trainer}")
    if made < len(plan):
        print(f"python -m mastcore atlas: warning: the time budget ran out after {made} of {len(plan)} points",
              file=sys.stderr)
    return 0


def app_script() -> Path:
    """The dashboard's entry script: ``app.py`` of the checkout this package runs from, else the installed copy
    (package ``mastcore_app``, which the wheel builds from app.py and pages/)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "app.py").is_file() and (checkout / "pages").is_dir():
        return checkout / "app.py"
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("mastcore_app")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dashboard files (package mastcore_app) are not installed; reinstall mastcore")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def _cmd_app(args, parser) -> int:
    import importlib.util  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    if importlib.util.find_spec("streamlit") is None:
        print("mastcore app: error: the dashboard needs Streamlit: pip install 'mastcore[app]'", file=sys.stderr)
        return 2
    script = app_script()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), *args.streamlit_args]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def main(argv=None) -> int:
    """Entry point of ``python -m mastcore``; returns the exit code (2 for bad arguments, 130 when interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    commands = {"sweep": _cmd_sweep, "fig2": _cmd_fig2, "cache": _cmd_cache, "atlas": _cmd_atlas, "app": _cmd_app}
    sub = parser._subparsers._group_actions[0].choices[args.command]  # noqa: SLF001  (its own error())
    try:
        return commands[args.command](args, sub)
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print(f"python -m mastcore {args.command}: interrupted; finished points are cached", file=sys.stderr)
        return 130
    except (ValueError, FloatingPointError, MemoryError, OSError, RuntimeError) as exc:
        # found late (over the memory budget, a bad combination, a solver that failed, a file that could not be
        # written, memory exhausted all the same): one line
        if isinstance(exc, MemoryError):
            msg = (f"out of memory ({type(exc).__name__}{': ' + str(exc) if str(exc) else ''}); use smaller sizes "
                   "or set MASTCORE_MAX_BYTES lower so that such runs are refused before they start")
        else:
            msg = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        msg = " ".join(msg.split())  # one line, whatever the message holds
        print(f"python -m mastcore {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
