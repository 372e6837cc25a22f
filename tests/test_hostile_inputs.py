"""Hostile inputs to the library and the command line: each case an adversarial user tried, and what it must give.

Library: values whose squares overflow, complex data, wrong spec types, invalid tol/max_iter, all-zero inputs,
TaskSpec options, CSV uploads that cannot be standardised, the tree level below N = rank X, the quadrature at
N = 1, constant traces. Command line: sizes that cannot fit are refused before allocating, memory and file
errors give one line and exit code 2, outputs stay whole when a write fails, SIGINT gives one line and 130.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import mastcore as mc
from mastcore import cli

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("single_threaded_blas")

#: The public solvers, called as f(X, y, spec) with a small budget of work.
SOLVERS = {
    "nngp": lambda X, y, s, **k: mc.nngp(X, y, s, **k),
    "tree_level": lambda X, y, s, **k: mc.tree_level(X, y, s, **k),
    "rescaled_kernel": lambda X, y, s, **k: mc.rescaled_kernel(X, y, s, **k),
    "one_loop": lambda X, y, s, **k: mc.one_loop(X, y, s, **k),
    "posterior_quadrature": lambda X, y, s, **k: mc.posterior_quadrature(X, y, s, **k),
    "exact_posterior": lambda X, y, s, **k: mc.exact_posterior(X, y, s, n_chains=2, n_sweeps=20, burn_in=2, **k),
    "train_langevin": lambda X, y, s, **k: mc.train_langevin(
        X, y, s, options=mc.LangevinOptions(ensemble=2, steps=20, burn_in=2), **k),
    "sweep": lambda X, y, s, **k: mc.sweep(X, y, s, chis=[1.0], methods=("nngp",), **k),
    "anneal": lambda X, y, s, **k: mc.anneal(X, y, s, [1.0], **k),
}


@pytest.fixture(scope="module")
def data():
    X, y = mc.ising(40 + 20, 60, 0.1, seed=0)
    return X[:40], y[:40], X[40:]


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


SPEC = mc.NetworkSpec(width=50, chi=5.0)


# --- values that overflow -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("case, match", [
    ("X*1e300", "'X' entries must be at most"),
    ("X*1e160", "'X' entries must be at most"),
    ("y*1e300", "'y' entries must be at most"),
    ("Xtest*1e300", "'X_test' entries must be at most"),
    ("g_v=1e300", "kernel scale"),
    ("g_w=1e300", "kernel scale"),
    ("y*1e60,kappa0=1e-8", "'y' is too large for 'kappa0'"),
])
def test_overflowing_values_named(data, name, case, match):
    X, y, Xs = data
    spec, kw = SPEC, {}
    if case.startswith("X*"):
        X = X * float(case[2:])
    elif case.startswith("y*1e300"):
        y = y * 1e300
    elif case.startswith("Xtest"):
        kw["X_test"] = Xs * 1e300
    elif case.startswith("g_"):
        spec = SPEC.replace(**{case[:3]: 1e300})
    else:
        y, spec = y * 1e60, SPEC.replace(kappa0=1e-8)
    with pytest.raises(ValueError, match=match):
        SOLVERS[name](X, y, spec, **kw)


def test_large_but_safe_values_still_solve(data):
    # the bounds leave room: inputs at 1e40 with g scaled down by 1e-80 are the same problem as the unscaled one
    X, y, _ = data
    a = mc.tree_level(X, y, SPEC)
    b = mc.tree_level(X * 1e40, y, SPEC.replace(g_v=SPEC.g_v * 1e-80))
    np.testing.assert_allclose(a.f_train, b.f_train, atol=1e-10)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_complex_inputs_rejected(data, name):
    X, y, _ = data
    with pytest.raises(ValueError, match="'X' must be real"):
        SOLVERS[name](X + 0j, y, SPEC)
    with pytest.raises(ValueError, match="'y' must be real"):
        SOLVERS[name](X, y.astype(complex), SPEC)


# --- spec type and solver options ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("bad", ["spec", None, {"width": 10}, mc.TaskSpec()])
def test_spec_type_checked_everywhere(data, name, bad):
    X, y, _ = data
    with pytest.raises(ValueError, match="'spec' must be a mastcore.NetworkSpec"):
        SOLVERS[name](X, y, bad)


def test_spec_type_checked_in_kernels_and_objective(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="'spec'"):
        mc.nngp_kernel(X, X, "linear")
    with pytest.raises(ValueError, match="'spec'"):
        mc.theory.tree_objective(X, y, None, np.eye(X.shape[1]))


@pytest.mark.parametrize("activation", ["linear", "erf"])
@pytest.mark.parametrize("kw, match", [
    (dict(tol=-1), "'tol' must be > 0"), (dict(tol=0), "'tol' must be > 0"),
    (dict(tol=float("nan")), "'tol'"), (dict(max_iter=0), "'max_iter' must be an integer >= 1"),
    (dict(max_iter=2.5), "'max_iter'"), (dict(n_stages=0), "'n_stages'"),
])
def test_tree_level_tol_and_max_iter_validated(data, activation, kw, match):
    X, y, _ = data
    with pytest.raises(ValueError, match=match):
        mc.tree_level(X, y, SPEC.replace(activation=activation), **kw)


@pytest.mark.parametrize("solver, kw, match", [
    ("one_loop", dict(tol=-1), "'tol'"), ("one_loop", dict(max_iter=0), "'max_iter'"),
    ("posterior_quadrature", dict(tol=-1), "'tol'"), ("posterior_quadrature", dict(tol=0.0), "'tol'"),
])
def test_other_solvers_tol_and_max_iter_validated(data, solver, kw, match):
    X, y, _ = data
    with pytest.raises(ValueError, match=match):
        getattr(mc, solver)(X, y, SPEC, **kw)


@pytest.mark.parametrize("activation", ["linear", "erf", "relu"])
def test_rescaled_kernel_all_zero_inputs(data, activation):
    X, y, _ = data
    with pytest.raises(ValueError, match="'X' must not be all zeros"):
        mc.rescaled_kernel(np.zeros_like(X), y, SPEC.replace(activation=activation))


def test_taskspec_option_error_names_the_option():
    with pytest.raises(ValueError, match="'binary' must be one of"):
        mc.TaskSpec(name="digits", P=10, P_test=10, options=(("binary", "foo"),))
    with pytest.raises(ValueError, match="'binar' is not an option"):
        mc.TaskSpec(name="digits", P=10, P_test=10, options=(("binar", "0 vs 1"),))


@pytest.mark.parametrize("value", ["1e300", "-3e200", "1e101"])
def test_csv_whose_standardisation_overflows_rejected_at_load(value):
    text = f"a,b,label\n1,2,1\n{value},4,-1\n5,6,1\n"
    with pytest.raises(ValueError, match="column 'a'"):
        mc.load_csv(text)
    with pytest.raises(ValueError, match="column 'label'"):
        mc.load_csv(f"a,b,label\n1,2,1\n3,4,{value}\n5,6,1\n")


def test_csv_at_the_bound_loads_and_solves():
    X, y, names = mc.load_csv("a,b,label\n1e100,2,1\n-1e100,4,-1\n3e99,6,1\n0,1,-1\n")
    task = mc.task_from_arrays(X, y, n_train=3, seed=0)
    assert np.all(np.isfinite(task.X)) and np.max(np.abs(task.X)) < 10
    assert np.all(np.isfinite(mc.nngp(task.X, task.y, SPEC).f_train))


# --- silent validity gaps ----------------------------------------------------------------------------------

@pytest.mark.parametrize("N", [1, 2, 10])
def test_tree_level_below_rank_is_flagged(N):
    task = mc.make_task(mc.TaskSpec(name="ising", P=40, P_test=10, D=80, seed=0))
    spec = mc.NetworkSpec(width=N, chi=1.0)
    with pytest.warns(mc.LoopBreakdownWarning, match=f"N = {N} < rank X = 40"):
        r = mc.tree_level(task.X, task.y, spec)
    assert "width_below_rank" in r.flags and r.converged
    # and the flag is earned: the tree level is far from the exact posterior mean here (docs/theory.md §4.8)
    q = mc.posterior_quadrature(task.X, task.y, spec)
    tree, exact = (mc.discrepancies(task.y, f)["mean_y_delta"] for f in (r.f_train, q.f_train))
    assert abs(tree - exact) / exact > 0.15


def test_tree_level_at_rank_is_not_flagged():
    task = mc.make_task(mc.TaskSpec(name="ising", P=40, P_test=10, D=80, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", mc.LoopBreakdownWarning)
        r = mc.tree_level(task.X, task.y, mc.NetworkSpec(width=40, chi=1.0))
    assert "width_below_rank" not in r.flags


def test_tree_level_flag_erf():
    task = mc.make_task(mc.TaskSpec(name="ising", P=12, P_test=10, D=20, seed=0))
    with pytest.warns(mc.LoopBreakdownWarning):
        r = mc.tree_level(task.X, task.y, mc.NetworkSpec(width=4, chi=1.0, activation="erf"))
    assert "width_below_rank" in r.flags


def quad_reference(X, y, spec):
    """⟨f(X)⟩ by adaptive quadrature over Q = |w|²/σ_w² ~ χ²_N with Q = s² (an integrable 1/√Q at N = 1).

    Given Q, f(X) is a GP with kernel (Q/N) C0/χ and noise κ0/χ (docs/theory.md §2.4); in C0's eigenbasis the
    likelihood and the mean factorise. Independent of posterior_quadrature's trapezoid rule in log Q.
    """
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    C0 = spec.g_w * spec.g_v / X.shape[1] * X @ X.T
    lam, V = np.linalg.eigh(C0)
    lam = np.clip(lam, 0, None)
    yt = V.T @ y

    def log_w(s):
        Q = s * s
        var = (Q * lam / N + k0) / chi
        return stats.chi2.logpdf(Q, N) + np.log(2 * s) - 0.5 * np.sum(yt**2 / var + np.log(var))

    hi = np.sqrt(N + 60 * np.sqrt(2 * N) + 200)
    s_grid = np.linspace(1e-9, hi, 4001)
    top = max(log_w(s) for s in s_grid)
    kw = dict(epsabs=0, epsrel=1e-12, limit=400)
    w = lambda s: np.exp(log_w(s) - top)  # noqa: E731
    Z = integrate.quad(w, 0, hi, **kw)[0]
    mean = [integrate.quad(lambda s: w(s) * (s * s * lam[k] / N) / (s * s * lam[k] / N + k0), 0, hi, **kw)[0] / Z
            for k in range(lam.size)]
    return V @ (np.asarray(mean) * yt)


@pytest.mark.parametrize("N, chi", [(1, 1.0), (2, 1.0), (2, 2.0), (3, 1.0), (3, 3.0)])
def test_posterior_quadrature_down_to_width_one(N, chi):
    X, y = mc.ising(5, 8, 0.2, seed=3)
    spec = mc.NetworkSpec(width=N, chi=chi, kappa0=0.3)
    q = mc.posterior_quadrature(X, y, spec)
    assert q.converged and q.error_estimate < 1e-10
    np.testing.assert_allclose(q.f_train, quad_reference(X, y, spec), atol=1e-8)


def test_constant_traces_count_as_converged():
    # a run whose traces are constant to rounding (tiny noise, huge prior) is converged, not R̂ = nan
    X, y = mc.ising(20, 30, 0.1, seed=0)
    spec = mc.NetworkSpec(width=20, chi=1.0, kappa0=1e-8, g_v=1e6, g_w=1e6)
    r = mc.exact_posterior(X, y, spec, n_chains=4, n_sweeps=60, burn_in=10)
    assert r.r_hat == 1.0 and r.converged
    assert mc.split_rhat(np.full((4, 50), 0.3)) == 1.0
    assert mc.split_rhat(np.full((4, 50), 0.1) + 1e-17 * np.arange(50)) == 1.0
    assert np.isnan(mc.split_rhat(np.full((4, 50), np.nan)))
    rng = np.random.default_rng(0)
    assert mc.split_rhat(rng.standard_normal((4, 200))) < 1.05  # real noise is still measured
    assert mc.split_rhat(rng.standard_normal((4, 200)) + np.arange(4)[:, None]) > 1.5


# --- the command line --------------------------------------------------------------------------------------

SMALL = ["--P", "12", "--P-test", "30", "--D", "16", "--N", "10", "--no-progress"]


@pytest.mark.parametrize("argv", [["--D", "1000000"], ["--P", "20000"], ["--P-test", "10000000"],
                                  ["--methods", "exact", "--exact-chains", "10000000"]])
def test_cli_refuses_sizes_that_cannot_fit_before_allocating(argv, cache_dir, capsys, monkeypatch):
    monkeypatch.setenv("MASTCORE_MAX_BYTES", "4G")
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        rc = cli.main(["sweep", "--no-progress", *argv])
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.strip()
    assert rc == 2 and seconds < 2.0 and peak < 50 * 2**20
    assert "\n" not in err and "Traceback" not in err
    assert "would need about" in err and "MASTCORE_MAX_BYTES" in err


@pytest.mark.parametrize("exc", [MemoryError("Unable to allocate 30.0 GiB for an array"), OSError(28, "No space"),
                                 mc.ResourceError("too big")])
def test_cli_memory_and_os_errors_one_line_exit_2(exc, cache_dir, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(cli, "sweep", boom)
    assert cli.main(["sweep", *SMALL, "--methods", "nngp"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("python -m mastcore sweep: error:")


def _outputs(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture()
def good_outputs(tmp_path, cache_dir):
    out = tmp_path / "out"
    assert cli.main(["sweep", *SMALL, "--chis", "1,10", "--methods", "nngp,tree", "--out", str(out)]) == 0
    before = _outputs(out)
    assert set(before) == {"sweep.csv", "sweep.json", "sweep.html"}
    return out, before


ARGS_NEW = ["sweep", *SMALL, "--chis", "1,3,10", "--methods", "nngp,tree"]


def test_failing_html_leaves_previous_outputs(good_outputs, capsys, monkeypatch):
    out, before = good_outputs

    def broken(*args, **kwargs):
        raise OSError("plotly could not render the figure")

    monkeypatch.setattr(cli, "figure_html", broken)
    assert cli.main([*ARGS_NEW, "--out", str(out)]) == 2
    assert _outputs(out) == before  # untouched, no temporary left behind
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plotly could not render" in err


def test_failing_rename_half_way_rolls_back(good_outputs, capsys, monkeypatch):
    out, before = good_outputs
    real = os.replace
    calls = []

    def flaky(src, dst):
        if Path(dst).parent == out:  # the outputs only (the cache renames its entries too)
            calls.append(dst)
            if len(calls) == 2:  # the csv is already replaced when the json fails
                raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(cli.os, "replace", flaky)
    assert cli.main([*ARGS_NEW, "--out", str(out)]) == 2
    assert _outputs(out) == before  # the three files are the previous set again, in step
    monkeypatch.setattr(cli.os, "replace", real)
    assert cli.main([*ARGS_NEW, "--out", str(out)]) == 0  # and a working write replaces all three
    after = _outputs(out)
    assert set(after) == set(before) and all(after[k] != before[k] for k in ("sweep.csv", "sweep.json"))


def test_rollback_without_hard_links(good_outputs, monkeypatch):
    # a file system without hard links: the backups are copies, and a failing rename still rolls back
    out, before = good_outputs

    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    real = os.replace
    calls = []

    def flaky(src, dst):
        if Path(dst).parent == out:
            calls.append(dst)
            if len(calls) == 3:  # csv and json replaced when the html fails
                raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(cli.os, "link", no_links)
    monkeypatch.setattr(cli.os, "replace", flaky)
    assert cli.main([*ARGS_NEW, "--out", str(out)]) == 2
    assert _outputs(out) == before
    monkeypatch.setattr(cli.os, "replace", real)
    assert cli.main([*ARGS_NEW, "--out", str(out)]) == 0 and _outputs(out) != before


def test_unwritable_output_directory_one_line(tmp_path, cache_dir, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert cli.main([*ARGS_NEW, "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and blocker.read_text() == "not a directory"


def test_sigint_during_a_sweep_one_line_exit_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTCORE_CACHE_DIR": str(tmp_path / "cache")}
    # a slow exact sweep; the progress bar (stderr) shows that the sweep has started
    p = subprocess.Popen([sys.executable, "-m", "mastcore", "sweep", "--P", "30", "--D", "40", "--N", "30",
                          "--chis", "1,2,4", "--methods", "exact", "--exact-chains", "8", "--exact-sweeps", "10000000"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        while "sweep:" not in seen:  # the progress bar's label, written when the sweep starts
            char = p.stderr.read(1)
            assert char, f"the sweep ended before it was interrupted: {seen!r}"
            seen += char
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            p.kill()
    assert p.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "python -m mastcore sweep: interrupted; finished points are cached"
