"""Command line: ``python -m mastcore sweep | fig2 | cache``.

    python -m mastcore sweep --task ising --P 80 --D 200 --N 100 --chis 1,2,5,10,20,50,100 \\
        --methods nngp,tree,one_loop,exact,langevin --out DIR
    python -m mastcore fig2 --out DIR [--small]
    python -m mastcore cache info | clear

A sweep prints a table and writes ``sweep.csv``, ``sweep.json`` (task spec, network spec, options, package and
solver versions, rows) and ``sweep.html`` (standalone plotly figure of train/test mean(y·Δ) vs χ) to ``--out``.
Theory methods (nngp, tree, one_loop) run as one annealed sweep (Algorithm 1, warm starts); samplers (exact,
langevin) run one independent job per χ through joblib, so ``--backend loky|dask|ray`` (and ``--scheduler`` for an
existing dask cluster) spread them. Results are cached (``--no-cache`` to bypass), keyed on the plain task and
network specs. Bad arguments give a one-line error and exit code 2.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main", "FIG2_TASK", "FIG2_NET"]

THEORY = ("nngp", "tree", "one_loop")
SAMPLERS = ("exact", "langevin")
#: The paper's Fig.-2 setting (THEORY §10): Ising task, P = 80, D = 200, p = 0.1; N = 100, κ0 = 1, g = 0.5.
FIG2_TASK = dict(name="ising", P=80, P_test=1000, D=200, p=0.1, seed=0)
FIG2_NET = dict(width=100, g_v=0.5, g_w=0.5, kappa0=1.0, activation="linear")
FIG2_SMALL_TASK = dict(name="ising", P=20, P_test=200, D=40, p=0.1, seed=0)
FIG2_SMALL_NET = dict(width=20, g_v=0.5, g_w=0.5, kappa0=1.0, activation="linear")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's contract), never a traceback
        self.exit(2, f"{self.prog}: error: {message}\n")


def _available_methods() -> tuple[str, ...]:
    import importlib.util  # noqa: PLC0415

    out = ["nngp", "tree"]
    for m, mod in (("one_loop", "one_loop"), ("exact", "gibbs"), ("langevin", "langevin")):
        if importlib.util.find_spec(f"mastcore.{mod}") is not None:
            out.append(m)
    return tuple(out)


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
    avail = _available_methods()
    bad = [m for m in methods if m not in avail]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"methods must be among {','.join(avail)}; got {text!r}")
    return methods


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return v


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
                   help="joblib backend for χ points (default sequential)")
    s.add_argument("--n-jobs", type=int, default=None, help="parallel workers (default: backend's choice)")
    s.add_argument("--scheduler", default=None, help="address of an existing dask scheduler (with --backend dask)")
    s.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    s.add_argument("--out", default=None, help="output directory for CSV, JSON and HTML")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mastcore", description="MSA theory of feature learning: sweeps, Fig. 2, cache.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sw = sub.add_parser("sweep", help="discrepancy vs χ for several methods")
    sw.add_argument("--task", default="ising", help="task name (ising, teacher_student, ...)")
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
    sw.add_argument("--activation", default="linear", help="linear|erf|relu")
    sw.add_argument("--chis", type=_float_list, default=_float_list("1,2,5,10,20,50,100"))
    sw.add_argument("--methods", type=_method_list, default=("nngp", "tree"))
    _add_run_options(sw)

    fg = sub.add_parser("fig2", help="reproduce the paper's Fig. 2 (train and test discrepancy vs χ)")
    fg.add_argument("--small", action="store_true", help="small, fast version (CI)")
    _add_run_options(fg)

    ca = sub.add_parser("cache", help="inspect or empty the cache")
    ca.add_argument("action", choices=("info", "clear"))
    return parser


# --- work units (module level: cacheable and picklable for loky / dask / ray) -----------------------------


def theory_rows(task_spec, spec, chis: tuple, methods: tuple) -> list[dict]:
    """Annealed theory sweep (Algorithm 1) on the task ``task_spec``: one row per (χ, method)."""
    from .anneal import anneal  # noqa: PLC0415
    from .tasks import make_task  # noqa: PLC0415

    task = make_task(task_spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = anneal(task.X, task.y, spec, list(chis), methods=methods, X_test=task.X_test)
    rows = res.table(task.y, task.y_test)
    for row in rows:
        row["seconds"] = res.seconds.get(row["method"], 0.0) / len(chis)
    return rows


def sampler_row(task_spec, spec, method: str, options: dict) -> dict:
    """One sampler run (exact posterior or Langevin ensemble) at ``spec.chi``: summaries with standard errors."""
    from .metrics import discrepancies  # noqa: PLC0415
    from .tasks import make_task  # noqa: PLC0415

    task = make_task(task_spec)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "exact":
            from .gibbs import exact_posterior  # noqa: PLC0415

            r = exact_posterior(task.X, task.y, spec, task.X_test, **options)
            member_train, member_test = r.chain_f_train, None
        elif method == "langevin":
            from .langevin import LangevinOptions, train_langevin  # noqa: PLC0415

            r = train_langevin(task.X, task.y, spec, task.X_test, options=LangevinOptions(**options))
            member_train, member_test = r.member_f_train, r.member_f_test
        else:
            raise ValueError(f"'method' must be one of {SAMPLERS}; got {method!r}")
    row = {"chi": float(spec.chi), "method": method}
    row.update({f"train_{k}": v for k, v in discrepancies(task.y, r.f_train).items()})
    row["train_mean_y_delta_se"] = _se(member_train, -task.y / task.y.size)
    if r.f_test is not None:
        row.update({f"test_{k}": v for k, v in discrepancies(task.y_test, r.f_test).items()})
        if member_test is not None:
            row["test_mean_y_delta_se"] = _se(member_test, -task.y_test / task.y_test.size)
        else:  # exact: f_test = X* X⁺ f_train, a linear map of the per-chain means
            from .kernels import row_space  # noqa: PLC0415

            rs = row_space(task.X)
            proj = task.X_test @ rs.W @ np.diag(1 / rs.S) @ rs.U.T  # (P*, P)
            row["test_mean_y_delta_se"] = _se(member_train @ proj.T, -task.y_test / task.y_test.size)
    row["converged"] = bool(getattr(r, "converged", True))
    row["residual"] = float(getattr(r, "residual", 0.0))
    row["seconds"] = time.perf_counter() - t0
    row["warnings"] = "; ".join(str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning))[:300]
    return row


def _se(members: np.ndarray, weights: np.ndarray) -> float:
    per = members @ weights
    return float(np.std(per, ddof=1) / np.sqrt(per.size))


def _call(func, cache: bool, *args):
    if cache:
        from .cache import cached_call  # noqa: PLC0415

        return cached_call(func, *args)
    return func(*args)


def _sampler_point(job):
    func_args, cache = job
    return _call(sampler_row, cache, *func_args)


# --- commands ---------------------------------------------------------------------------------------------


def run_sweep(task_spec, spec, chis, methods, *, sampler_options: dict, cache=True, backend="sequential",
              n_jobs=None, scheduler=None, progress=True, chis_samplers=None) -> tuple[list[dict], float]:
    """Rows of a sweep (theory methods annealed over ``chis``, samplers at ``chis_samplers`` or ``chis``)."""
    from .parallel import backend as backend_ctx  # noqa: PLC0415
    from .parallel import parallel_map  # noqa: PLC0415

    t0 = time.perf_counter()
    rows: list[dict] = []
    theory = tuple(m for m in methods if m in THEORY)
    samplers = [m for m in methods if m in SAMPLERS]
    bar = _bar(progress, total=(1 if theory else 0) + len(samplers) * len(chis_samplers or chis), desc="sweep")
    if theory:
        rows += _call(theory_rows, cache, task_spec, spec, tuple(chis), theory)
        bar.update(1)
    if samplers:
        import warnings as _w  # noqa: PLC0415

        from .specs import ScaleWarning  # noqa: PLC0415

        jobs = []
        for m in samplers:
            for chi in chis_samplers or chis:
                with _w.catch_warnings():
                    _w.simplefilter("ignore", ScaleWarning)
                    s = spec.replace(chi=float(chi))
                jobs.append(((task_spec, s, m, dict(sampler_options[m])), cache))
        with backend_ctx(backend, n_jobs=n_jobs, scheduler=scheduler):
            rows += parallel_map(_sampler_point, jobs, on_done=lambda k, n: bar.update(1))
    bar.close()
    return rows, time.perf_counter() - t0


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False)


def format_table(rows: list[dict]) -> str:
    """Plain-text table: χ, method, train/test mean(y·Δ) (± s.e. for samplers), converged."""
    head = f"{'chi':>8}  {'method':<9} {'train mean(y·Δ)':>22} {'test mean(y·Δ)':>22}  conv"
    lines = [head, "-" * len(head)]

    def cell(row, split):
        v = row.get(f"{split}_mean_y_delta")
        if v is None:
            return f"{'—':>22}"
        se = row.get(f"{split}_mean_y_delta_se")
        return f"{v:>11.6f} ± {se:<8.2g}" if se is not None else f"{v:>22.6f}"

    for row in sorted(rows, key=lambda r: (r["chi"], list(_available_methods()).index(r["method"])
                                           if r["method"] in _available_methods() else 99)):
        lines.append(f"{row['chi']:>8.4g}  {row['method']:<9} {cell(row, 'train')} {cell(row, 'test')}  "
                     f"{'yes' if row.get('converged', True) else 'NO'}")
    return "\n".join(lines)


def figure_html(rows: list[dict], title: str) -> str:
    """Standalone HTML: train and test mean(y·Δ) vs χ (theory curves, sampler points with error bars)."""
    import pandas as pd  # noqa: PLC0415

    df = pd.DataFrame(rows)
    curves = df[df["method"].isin(THEORY)]
    refs = df[df["method"].isin(SAMPLERS)].rename(columns={"method": "kind"})
    parts = []
    for k, split in enumerate(("train", "test")):
        col = f"{split}_mean_y_delta"
        if col not in df:
            continue
        fig = _regimes(curves, refs, col, f"{title}: {split} discrepancy")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if k == 0 else False))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            + "\n".join(parts) + "</body></html>")


def _regimes(curves, refs, column, title):
    try:
        from .plots import regimes_figure  # noqa: PLC0415  (the dashboard's builder, when present)

        return regimes_figure(curves, column, refs=refs if len(refs) else None, ylabel="mean(y·Δ)", title=title)
    except ImportError:  # pragma: no cover  (plain plotly fallback)
        import plotly.graph_objects as go  # noqa: PLC0415

        fig = go.Figure()
        for m in dict.fromkeys(curves["method"]):
            t = curves[curves["method"] == m].sort_values("chi")
            fig.add_trace(go.Scatter(x=t["chi"], y=t[column], mode="lines+markers", name=m))
        for m in dict.fromkeys(refs["kind"]):
            t = refs[refs["kind"] == m]
            fig.add_trace(go.Scatter(x=t["chi"], y=t[column], mode="markers", name=m,
                                     error_y=dict(type="data", array=t.get(f"{column}_se"))))
        fig.update_layout(title=title, xaxis_title="χ", yaxis_title="mean(y·Δ)")
        fig.update_xaxes(type="log")
        return fig


def write_outputs(out: Path, stem: str, rows: list[dict], meta: dict) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    csv_path, json_path, html_path = out / f"{stem}.csv", out / f"{stem}.json", out / f"{stem}.html"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    json_path.write_text(json.dumps({**meta, "rows": rows}, indent=1, default=_json_default), encoding="utf-8")
    html_path.write_text(figure_html(rows, meta.get("title", stem)), encoding="utf-8")
    return [csv_path, json_path, html_path]


def _json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _sampler_options(args, small: bool = False) -> dict:
    steps = args.steps
    burn = args.burn_in if args.burn_in is not None else steps // 10
    lang = dict(ensemble=args.ensemble, steps=steps, burn_in=burn, dt=args.dt, device=args.device, seed=args.seed,
                chunks=args.chunks)
    sweeps = args.exact_sweeps
    exact = dict(n_chains=args.exact_chains, n_sweeps=sweeps, burn_in=max(1, sweeps // 10), seed=args.seed)
    return {"langevin": lang, "exact": exact}


def _meta(task_spec, spec, chis, methods, options, seconds, title) -> dict:
    import mastcore  # noqa: PLC0415

    from .cache import SOLVER_VERSION  # noqa: PLC0415

    return {
        "title": title,
        "task": task_spec.to_dict(),
        "network": {k: v for k, v in spec.to_dict().items() if k != "chi"},
        "chis": list(map(float, chis)),
        "methods": list(methods),
        "sampler_options": options,
        "version": mastcore.__version__,
        "solver_version": SOLVER_VERSION,
        "seconds": seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cmd_sweep(args, parser) -> int:
    from .specs import NetworkSpec  # noqa: PLC0415
    from .tasks import TaskSpec  # noqa: PLC0415

    try:
        task_spec = TaskSpec(name=args.task, P=args.P, P_test=args.P_test, D=args.D, p=args.p, noise=args.noise,
                             seed=args.data_seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = NetworkSpec(width=args.N, chi=1.0, g_v=args.g_v, g_w=args.g_w, kappa0=args.kappa0,
                               activation=args.activation)
        from .tasks import available_tasks  # noqa: PLC0415

        if task_spec.name not in available_tasks():
            raise ValueError(f"'task' must be one of {available_tasks()}; got {task_spec.name!r}")
        if "exact" in args.methods and spec.activation != "linear":
            raise ValueError("'methods' exact needs --activation linear (the exact sampler is for linear networks)")
        options = _sampler_options(args)
        _check_options(options, args.methods)
    except ValueError as exc:
        parser.error(str(exc))
    rows, seconds = run_sweep(task_spec, spec, args.chis, args.methods, sampler_options=options,
                              cache=not args.no_cache, backend=args.backend, n_jobs=args.n_jobs,
                              scheduler=args.scheduler, progress=not args.no_progress)
    print(format_table(rows))
    if args.out:
        meta = _meta(task_spec, spec, args.chis, args.methods, options, seconds, "sweep")
        for p in write_outputs(Path(args.out), "sweep", rows, meta):
            print(f"wrote {p}")
    return 0


def _check_options(options: dict, methods) -> None:
    if "langevin" in methods:
        from .langevin import LangevinOptions  # noqa: PLC0415

        LangevinOptions(**options["langevin"])  # validates (ValueError names the argument)
    if options["exact"]["burn_in"] >= options["exact"]["n_sweeps"]:
        raise ValueError("'--exact-sweeps' must be at least 2")


def _cmd_fig2(args, parser) -> int:
    from .specs import NetworkSpec  # noqa: PLC0415
    from .tasks import TaskSpec  # noqa: PLC0415

    small = args.small
    task_spec = TaskSpec(**(FIG2_SMALL_TASK if small else FIG2_TASK))
    spec = NetworkSpec(chi=1.0, **(FIG2_SMALL_NET if small else FIG2_NET))
    N = spec.width
    chis = np.unique(np.round(np.logspace(0, np.log10(N), 9 if small else 25), 6))
    chis_s = [1.0, float(np.sqrt(N)), float(N)] if small else [1.0, 3.0, 10.0, 30.0, 100.0]
    if small:  # short sampler runs (CI); the full figure uses the CLI defaults
        if args.steps == 20000:
            args.steps = 1500
        if args.exact_sweeps == 2000:
            args.exact_sweeps = 200
        if args.ensemble == 16:
            args.ensemble = 8
        if args.exact_chains == 64:
            args.exact_chains = 16
    methods = tuple(m for m in ("nngp", "tree", "one_loop", "exact", "langevin") if m in _available_methods())
    try:
        options = _sampler_options(args)
        _check_options(options, methods)
    except ValueError as exc:
        parser.error(str(exc))
    rows, seconds = run_sweep(task_spec, spec, chis, methods, sampler_options=options, cache=not args.no_cache,
                              backend=args.backend, n_jobs=args.n_jobs, scheduler=args.scheduler,
                              progress=not args.no_progress, chis_samplers=chis_s)
    print(format_table(rows))
    out = Path(args.out or "out/fig2")
    meta = _meta(task_spec, spec, chis, methods, options, seconds, "Fig. 2" + (" (small)" if small else ""))
    for p in write_outputs(out, "fig2", rows, meta):
        print(f"wrote {p}")
    return 0


def _cmd_cache(args, parser) -> int:
    from .cache import cache_info, clear_cache, format_info  # noqa: PLC0415

    if args.action == "info":
        print(format_info(cache_info()))
    else:
        freed = clear_cache()
        info = cache_info()
        print(f"cleared {info['path']}: freed {freed} bytes, {info['entries']} entries left")
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m mastcore``; returns the exit code (2 for bad arguments)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    commands = {"sweep": _cmd_sweep, "fig2": _cmd_fig2, "cache": _cmd_cache}
    sub = parser._subparsers._group_actions[0].choices[args.command]  # noqa: SLF001  (its own error())
    try:
        return commands[args.command](args, sub)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (ValueError, FloatingPointError) as exc:  # bad combination found late: one line, no traceback
        print(f"python -m mastcore {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
