"""Tests of the command line (mastcore/cli.py): sweep outputs, fig2 --small end to end, cache commands, and
one-line errors with exit code 2 for bad arguments."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mastcore as mc
from mastcore.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(d))
    return d


SMALL = ["--P", "12", "--P-test", "30", "--D", "16", "--N", "10", "--no-progress"]


def test_sweep_writes_table_csv_json_html(cache_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["sweep", *SMALL, "--chis", "1,3,10", "--methods", "nngp,tree,exact,langevin", "--steps", "400",
               "--ensemble", "4", "--exact-chains", "4", "--exact-sweeps", "100", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "train mean(y·Δ)" in text and "langevin" in text and "exact" in text
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["version"] == mc.__version__ and meta["task"]["P"] == 12 and meta["network"]["width"] == 10
    rows = meta["rows"]
    assert {(r["method"], r["chi"]) for r in rows} >= {("tree", 10.0), ("exact", 3.0), ("langevin", 1.0)}
    assert all("test_mean_y_delta" in r for r in rows)
    assert all(r["train_mean_y_delta_se"] > 0 for r in rows if r["method"] in ("exact", "langevin"))
    csv_text = (out / "sweep.csv").read_text().splitlines()
    assert csv_text[0].startswith("method,chi") and len(csv_text) == len(rows) + 1
    html = (out / "sweep.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "plotly" in html.lower()
    # cached: the second run is served from the cache (entries unchanged)
    from mastcore.cache import cache_info

    n = cache_info()["entries"]
    assert main(["sweep", *SMALL, "--chis", "1,3,10", "--methods", "nngp,tree,exact,langevin", "--steps", "400",
                 "--ensemble", "4", "--exact-chains", "4", "--exact-sweeps", "100"]) == 0
    assert cache_info()["entries"] == n


def test_sweep_dask_backend_via_local_cluster(cache_dir, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        rc = main(["sweep", *SMALL, "--chis", "1,10", "--methods", "tree,exact", "--exact-chains", "4",
                   "--exact-sweeps", "60", "--backend", "dask", "--scheduler", cluster.scheduler_address,
                   "--no-cache"])
    assert rc == 0
    assert capsys.readouterr().out.count("exact") == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sweep", "--chis", "0.5"], "chi"),
        (["sweep", "--chis", "a,b"], "chis"),
        (["sweep", "--methods", "nngp,magic"], "methods"),
        (["sweep", "--P", "-3"], "--P"),
        (["sweep", "--task", "nope", "--methods", "nngp"], "'task'"),
        (["sweep", "--activation", "sigmoid", "--methods", "nngp"], "'activation'"),
        (["sweep", "--methods", "langevin", "--steps", "10", "--burn-in", "50"], "'burn_in'"),
        (["sweep", "--kappa0", "-1", "--methods", "nngp"], "'kappa0'"),
        (["cache", "wipe"], "action"),
        ([], "command"),
    ],
)
def test_bad_arguments_one_line_exit_2(argv, message, capsys, cache_dir):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and message in err


def test_subprocess_bad_argument_has_no_traceback(cache_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "mastcore", "sweep", "--N", "zero"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_fig2_small_end_to_end(cache_dir, tmp_path):
    out = tmp_path / "fig2"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTCORE_CACHE_DIR": str(cache_dir)}
    p = subprocess.run([sys.executable, "-m", "mastcore", "fig2", "--small", "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    meta = json.loads((out / "fig2.json").read_text())
    methods = {r["method"] for r in meta["rows"]}
    assert {"nngp", "tree", "exact", "langevin"} <= methods
    assert (out / "fig2.html").stat().st_size > 10_000 and (out / "fig2.csv").exists()
    assert "langevin" in p.stdout


def test_cache_info_clear_via_main(cache_dir, capsys):
    X, y = mc.ising(10, 12, 0.1, seed=0)
    mc.anneal(X, y, mc.NetworkSpec(width=10), [1.0], cache=True)
    assert main(["cache", "info"]) == 0
    assert "entries: 1" in capsys.readouterr().out
    assert main(["cache", "clear", "--yes"]) == 0
    assert "0 entries left" in capsys.readouterr().out


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(cache_dir, tmp_path, capsys, umask, mode):
    # the atomic write goes through mkstemp, whose files are 0600 whatever the umask
    out = tmp_path / "out"
    old = os.umask(umask)
    try:
        assert main(["sweep", *SMALL, "--chis", "1", "--methods", "nngp", "--no-cache", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    for name in ("sweep.csv", "sweep.json", "sweep.html"):
        assert (out / name).stat().st_mode & 0o777 == mode, name


def test_library_warnings_shown_on_stderr_in_one_line(cache_dir, capsys):
    # a CLI that hid every UserWarning would leave χ > N unmentioned
    assert main(["sweep", *SMALL, "--chis", "1,1000", "--methods", "nngp", "--no-cache"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "warning:" in ln]
    assert lines and lines[0].startswith("python -m mastcore sweep: warning: ScaleWarning: 'chis' go up to 1000 > "
                                         "width = 10")
    assert len(lines) == len(set(lines))  # each message once


def test_huge_chi_is_blamed_on_chis_not_y(cache_dir, capsys):
    assert main(["sweep", *SMALL, "--chis", "1,1e308", "--methods", "nngp", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m mastcore sweep: error: 'chis' is too large: chi = 1e+308") and "\n" not in err
    assert "'y'" not in err
