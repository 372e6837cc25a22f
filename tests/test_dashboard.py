"""mastcore_dashboard.state and mastcore_dashboard.compute (no Streamlit): settings, URL names, theory curves and reference runs,
each checked against a direct library computation."""
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

import mastcore as mc
from mastcore_dashboard import compute
from mastcore_dashboard.state import Settings, chi_grid

#: Same solver, same data: only floating-point round-off separates a sweep entry from a direct call.
TIGHT = 1e-10

SMALL = Settings(P=12, P_test=40, D=20, width=30)


def test_chi_grid_log_spaced_from_1_to_N():
    g = chi_grid(100, 25)
    assert g[0] == 1.0 and g[-1] == 100.0 and np.all(np.diff(g) > 0) and len(g) == 25
    ratios = np.diff(np.log(g))
    assert np.allclose(ratios, ratios.mean(), rtol=0.02)  # log-spaced (up to 3-significant-digit rounding)
    assert list(chi_grid(1)) == [1.0]


@hsettings(max_examples=30, deadline=None)
@given(P=st.integers(1, 5000), N=st.integers(1, 10000), kappa0=st.floats(0.01, 100), seed=st.integers(0, 10**6))
def test_query_roundtrip(P, N, kappa0, seed):
    s = Settings(P=P, width=N, kappa0=kappa0, seed=seed, activation="relu")
    values, bad = Settings.parse_query(s.to_query())
    assert not bad
    back = Settings(**values)
    assert (back.P, back.width, back.seed, back.activation) == (P, N, seed, "relu")
    assert back.kappa0 == pytest.approx(kappa0, rel=1e-5)  # URLs carry 6 significant digits


def test_parse_query_reports_bad_values():
    values, bad = Settings.parse_query({"P": "many", "N": "20"})
    assert values == {"width": 20} and "'P' must be an integer" in bad[0]


@pytest.mark.parametrize("change, needle", [({"P_test": 0}, "P*"), ({"width": 0}, "N (width)"),
                                            ({"kappa0": 0.0}, "κ0"), ({"p": 0.7}, "flip")])
def test_problems_name_the_setting_and_remedy(change, needle):
    msgs = SMALL.replace(**change).problems()
    assert len(msgs) == 1 and needle in msgs[0] and "sidebar" in msgs[0]
    with pytest.raises(ValueError, match="sidebar"):
        compute.build_task(SMALL.replace(**change))


def test_build_task_csv_needs_enough_rows():
    X, y = np.random.default_rng(0).standard_normal((10, 3)), np.ones(10)
    with pytest.raises(ValueError, match="at most 9"):
        compute.build_task(SMALL.replace(task="csv", P=10), (X, y))
    task = compute.build_task(SMALL.replace(task="csv", P=6), (X, y))
    assert task.X.shape == (6, 3) and task.X_test.shape == (4, 3)


def test_theory_curves_equal_direct_solves(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    task = compute.build_task(SMALL)
    chis = chi_grid(SMALL.width, 6)
    cv = compute.theory_curves(task, SMALL, chis, ("nngp", "tree"))
    assert set(cv.table["method"]) == {"nngp", "tree"} and not cv.messages
    chi = chis[3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = mc.tree_level(task.X, task.y, SMALL.network_spec(chi), X_test=task.X_test)
    row = cv.at("tree", chi * 1.01)  # nearest grid point
    assert row["chi"] == chi
    assert abs(row["train_mean_y_delta"] - mc.discrepancies(task.y, direct.f_train)["mean_y_delta"]) < TIGHT
    assert abs(row["test_mean_sq_delta"] - mc.discrepancies(task.y_test, direct.f_test)["mean_sq_delta"]) < TIGHT
    assert abs(row["s"] - direct.s) < TIGHT and cv.tree(chi).s == pytest.approx(direct.s, abs=TIGHT)
    eig, vec = direct.top_direction()
    assert row["outlier"] == pytest.approx(eig / (SMALL.g_v / task.D), rel=1e-9)
    nngp = mc.nngp(task.X, task.y, SMALL.network_spec(1.0))
    vals = cv.table[cv.table["method"] == "nngp"]["train_mean_y_delta"].to_numpy()
    assert np.allclose(vals, mc.discrepancies(task.y, nngp.f_train)["mean_y_delta"], atol=TIGHT)  # flat in χ
    # the second time it comes from the disk cache, also when only the cache may answer
    again = compute.theory_curves(task, SMALL, chis, ("nngp", "tree"), cache_mode="only")
    pd.testing.assert_frame_equal(again.table.drop(columns="seconds"), cv.table.drop(columns="seconds"))
    with pytest.raises(mc.cache.CacheMiss):
        compute.theory_curves(task, SMALL.replace(kappa0=0.7), chis, ("nngp", "tree"), cache_mode="only")


def test_feature_summary_rescaling_and_outlier():
    task = compute.build_task(SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mc.ConvergenceWarning)
        tree = mc.tree_level(task.X, task.y, SMALL.network_spec(float(SMALL.width)))
    fs = mc.theory.tree.features.feature_summary(tree, task.X, task.y, task.direction)
    assert fs["eig"][0] > 1.5 and np.allclose(fs["eig"][1:], fs["eig"][1:].clip(max=1.0))  # one outlier above prior
    assert fs["overlap"] > 0.9  # aligned with the all-ones Ising direction
    # docs/theory.md §4: a best single scalar reproduces the mean predictor up to a small spectral correction
    assert fs["rescaling_gap"] < 0.05
    f_fit, _ = mc.gp_predict(fs["s_fit"] * fs["C0"], task.y, SMALL.kappa0)
    assert np.max(np.abs(f_fit - tree.f_train)) == pytest.approx(fs["rescaling_gap"] * fs["shift"], rel=1e-6)


def test_reference_run_is_listed_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    task = compute.build_task(SMALL)
    assert compute.runs(task, SMALL).empty
    res, row, msgs = compute.reference_run(task, SMALL, 5.0, "exact", dict(n_chains=4, n_sweeps=40, burn_in=5))
    assert row["train_mean_y_delta"] == pytest.approx(mc.discrepancies(task.y, res.f_train)["mean_y_delta"])
    runs = compute.runs(task, SMALL)
    assert len(runs) == 1 and runs.loc[0, "chi"] == 5.0 and runs.loc[0, "train_mean_y_delta_se"] > 0
    assert runs.loc[0, "options"] == dict(n_chains=4, n_sweeps=40, burn_in=5)
    assert compute.runs(task, SMALL.replace(kappa0=0.3)).empty  # another network: not listed
    tr = compute.traces(res)
    assert tr["mean_y_delta"].shape == res.trace.steps.shape
    mc.cache.clear_cache()
    assert compute.runs(task, SMALL).empty  # the list agrees with the cache after clearing it


def test_width_scaling_table(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    small = SMALL.replace(P=6, D=10)
    task = compute.build_task(small)
    df = compute.width_scaling(task, small, [8, 16], exact_options=dict(n_chains=4, n_sweeps=40, burn_in=5))
    assert isinstance(df, pd.DataFrame) and len(df) == 2 * 2 * 3
    assert np.allclose(df["error"], np.abs(df["value"] - df["exact"]))
    ex = mc.exact_posterior(task.X, task.y, small.replace(width=16).network_spec(16.0), n_chains=4, n_sweeps=40,
                            burn_in=5)
    got = df[(df.width == 16) & (df.regime == "χ = N")]["exact"].iloc[0]
    assert got == pytest.approx(mc.discrepancies(task.y, ex.f_train)["mean_y_delta"], abs=1e-14)


def test_state_and_compute_do_not_import_streamlit():
    """The settings and the library calls hold no Streamlit (only the UI modules and the pages touch it)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, mastcore_dashboard.state, mastcore_dashboard.compute; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'streamlit'], 'streamlit imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


# --- URL parsing, the byte-bounded memo, the worker, estimates and the command line -------------------------

from mastcore_dashboard.memo import ByteMemo, nbytes  # noqa: E402
from mastcore_dashboard.state import VIEW_PARAMS, md_code, parse_query  # noqa: E402
from mastcore_dashboard.worker import Call, Job  # noqa: E402

TASKS = ("ising", "teacher_student", "digits")


@hsettings(max_examples=60, deadline=None)
@given(query=st.dictionaries(st.sampled_from(["P", "N", "Ptest", "D", "kappa0", "gv", "chi", "act", "task", "seed",
                                              "split", "widths", "chains", "lcP", "zzz"]),
                             st.one_of(st.text(max_size=40), st.floats(allow_nan=True).map(str),
                                       st.integers(-10**400, 10**400).map(str)), max_size=6))
def test_parse_query_never_raises_and_keeps_values_in_range(query):
    settings, view, chi, msgs = parse_query(query, TASKS)
    s = Settings(**settings)
    assert 0 <= s.P <= 5000 and 0 <= s.width <= 10000 and 0 <= s.D <= 5000 and 0 <= s.P_test <= 20000
    assert np.isfinite(s.kappa0) and np.isfinite(s.g_v) and s.activation in mc.ACTIVATIONS and s.task in TASKS
    assert chi is None or 1.0 <= chi <= s.width
    for name, val in view.items():
        p = VIEW_PARAMS[name]
        assert p.choices == () or p.kind != "choice" or val in p.choices
    # one message per bad parameter at most (plus a count when there are very many)
    assert len(msgs) <= len(query)
    for m in msgs:  # user text only ever appears inside code spans
        assert "](" not in re.sub(r"(`+)(.+?)\1", "", m)


def test_md_code_cannot_be_closed_early():
    for text in ("a`b", "``", "`x`", "[l](https://e.example)", "x\ny", "<b>hi</b>"):
        span = md_code(text)
        fence = re.match(r"`+", span).group()
        longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
        assert len(fence) > longest and span.endswith(fence) and "\n" not in span  # no run inside closes it
        assert span[len(fence):-len(fence)].strip(" ") == text.replace("\n", " ")
    assert md_code("") == "(empty)" and len(md_code("x" * 500)) < 80


def test_byte_memo_is_bounded_and_refuses_large_values():
    memo = ByteMemo(max_bytes=10_000, max_item_bytes=4_000)
    size = nbytes(np.zeros(300))  # 2.4 kB and the array's header
    for i in range(10):
        memo.put(i, np.zeros(300))
    assert memo.total <= 10_000 and len(memo) == 10_000 // size
    assert memo.get(9) is not None and memo.get(0) is None  # least recently used out first
    big = np.zeros(1000)  # 8 kB > max_item_bytes
    assert memo.put("big", big) is big and memo.get("big") is None
    assert nbytes({"a": np.zeros(100), "b": [np.zeros(50)]}) >= 1200


def test_byte_memo_drops_values_unused_for_ttl_seconds():
    now = [0.0]
    memo = ByteMemo(max_bytes=10**6, ttl=10.0, clock=lambda: now[0])
    memo.put("old", np.zeros(10))
    memo.put("used", np.zeros(10))
    now[0] = 8.0
    assert memo.get("used") is not None  # a use renews it
    now[0] = 12.0
    assert memo.expire() == 1 and "old" not in memo and memo.get("used") is not None
    assert memo.total == nbytes(np.zeros(10))
    now[0] = 30.0
    assert memo.get("used") is None and memo.total == 0  # expired on read, too
    forever = ByteMemo(max_bytes=10**6, ttl=0, clock=lambda: now[0])
    forever.put("a", 1)
    now[0] = 1e9
    assert forever.expire() == 0 and forever.get("a") == 1


def test_memo_ttl_environment_is_checked(monkeypatch):
    from mastcore_dashboard.memo import DEFAULT_TTL, memo_ttl  # noqa: PLC0415

    monkeypatch.delenv("MASTCORE_APP_MEMO_TTL", raising=False)
    assert memo_ttl() == DEFAULT_TTL
    monkeypatch.setenv("MASTCORE_APP_MEMO_TTL", "60")
    assert memo_ttl() == 60.0 and ByteMemo().ttl == 60.0
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("MASTCORE_APP_MEMO_TTL", bad)
        with pytest.raises(ValueError, match="MASTCORE_APP_MEMO_TTL"):
            memo_ttl()


def test_byte_memo_key_lock_lets_one_of_several_sessions_compute():
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    memo = ByteMemo(max_bytes=10**6, ttl=0)
    calls = []

    def session():  # what runs.memo_run does: look, take the key's lock, look again, compute, keep
        if memo.get("k") is None:
            with memo.lock("k"):
                if memo.get("k") is None:
                    calls.append(1)
                    time.sleep(0.05)
                    memo.put("k", np.ones(3))
        assert memo.get("k") is not None

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert memo.lock("a") is memo.lock("a") and memo.lock("a") is not memo.lock("b")
    import gc  # noqa: PLC0415

    gc.collect()
    assert not memo._key_locks  # no lock is kept once nobody holds it


def test_memo_janitor_runs_the_housekeeping_hooks_and_server_hook_is_harmless_outside_a_server():
    import time  # noqa: PLC0415

    from mastcore_dashboard import memo as memo_module  # noqa: PLC0415
    from mastcore_dashboard import server  # noqa: PLC0415

    assert server.reap_disconnected_sessions() == 0  # no Streamlit runtime in this process
    server.install()
    server.install()
    assert memo_module.JANITOR_HOOKS.count(server.reap_disconnected_sessions) == 1
    calls = []
    memo_module.JANITOR_HOOKS.append(lambda: calls.append(1))
    memo_module.JANITOR_HOOKS.append(lambda: 1 / 0)  # a failing hook is skipped, the janitor goes on
    try:
        memo = ByteMemo(max_bytes=10**6, ttl=2.0)  # the janitor's round: every max(1, ttl/4) = 1 s
        memo.put("a", 1)
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(calls) >= 2 and memo._janitor.is_alive()
    finally:
        del memo_module.JANITOR_HOOKS[-2:]


def test_nbytes_of_a_plotly_figure_counts_its_data():
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure(go.Scatter(x=np.arange(1000.0), y=np.arange(1000.0)))
    assert 16_000 <= nbytes(fig) < 200_000


def _sleepy(n, progress=None):
    import time  # noqa: PLC0415

    for i in range(n):
        time.sleep(0.05)
        if progress is not None:
            progress(i + 1, n, {"i": i})
    return n


def _boom(progress=None):
    raise ValueError("'X' must be finite; got inf")


def test_worker_job_returns_reports_progress_and_cancels_at_once():
    import time  # noqa: PLC0415

    seen = []
    assert Job(Call(_sleepy, 4)).run(lambda d, t, info, el: seen.append((d, t)), poll=0.02) == 4
    assert seen and seen[-1][1] == 4
    with pytest.raises(ValueError, match="'X' must be finite"):
        Job(Call(_boom)).run()
    job = Job(Call(_sleepy, 10_000)).start()
    while job.done == 0:
        job.poll(0.05)
    t0 = time.perf_counter()
    job.cancel()
    assert time.perf_counter() - t0 < 2.0 and not job.proc.is_alive() and job.cancelled


def test_worker_job_pauses_at_a_progress_report_and_resumes():
    import time  # noqa: PLC0415

    job = Job(Call(_sleepy, 40)).start()
    while job.done == 0:
        job.poll(0.05)
    job.pause()
    deadline = time.monotonic() + 30
    while not job.paused and time.monotonic() < deadline:
        job.poll(0.05)
    assert job.paused and not job.finished
    held = job.done
    job.poll(0.5)  # paused: no report in half a second (steps are 0.05 s apart while running)
    assert job.done == held < 40 and job.paused
    work = job.running_seconds
    job.resume()
    while not job.finished:
        job.poll(0.05)
    assert job.value() == 40 and not job.paused
    # the history has every report, timed without the pause: the pause (> 0.5 s) is not in the training time
    steps = [h[1] for h in job.history]
    assert steps == sorted(steps) and steps[-1] == 40
    assert job.running_seconds - work < job.elapsed - work - 0.4


def test_streamed_langevin_reports_each_block_and_is_the_stored_sweep_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    task = compute.build_task(SMALL)
    opts = dict(ensemble=8, steps=200, burn_in=40, seed=3)
    seen = []
    out = compute.stream_langevin(task, SMALL, 4.0, opts, progress=lambda d, t, info: seen.append((d, t, info)))
    # one report per block of 2 networks, each a running estimate over the networks trained so far
    assert [(d, t, i["networks"]) for d, t, i in seen] == [(1, 4, 2), (2, 4, 4), (3, 4, 6), (4, 4, 8)]
    assert out["row"]["stored"]
    # the run is the one mc.sweep stores with these options (cache="only" reads it; the run list shows it)
    res, row, _ = compute.reference_run(task, SMALL, 4.0, "langevin", compute.stream_options(opts), cache_mode="only")
    listed = compute.runs(task, SMALL)
    assert list(listed["method"]) == ["langevin"] and listed["options"].iloc[0]["chunks"] == 4
    # each report against an independent computation from the stored per-network averages (the first k networks)
    y, yt = task.y, task.y_test
    for d, _, info in seen:
        n = info["networks"]
        per = np.mean(y * (y - res.chain_f_train[:n]), axis=1)
        per_test = np.mean((yt - res.chain_f_test[:n]) ** 2, axis=1)
        assert info["train_mean_y_delta"] == pytest.approx(per.mean(), rel=TIGHT)
        assert info["train_mean_y_delta_se"] == pytest.approx(per.std(ddof=1) / np.sqrt(n), rel=1e-8)
        assert info["test_mean_sq_delta"] == pytest.approx(np.mean((yt - res.chain_f_test[:n].mean(0)) ** 2),
                                                           rel=TIGHT)
        assert info["test_mean_sq_delta_se"] == pytest.approx(per_test.std(ddof=1) / np.sqrt(n), rel=1e-8)
    assert seen[-1][2]["train_mean_y_delta"] == pytest.approx(row["train_mean_y_delta"], rel=TIGHT)
    assert compute.stream_blocks(3) == 1 and compute.stream_blocks(5) == 2 and compute.stream_blocks(64) == 4


def test_cli_command_reproduces_the_sweep(tmp_path, monkeypatch):
    from mastcore.cli import main  # noqa: PLC0415

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    s = SMALL.replace(P=10, P_test=20, D=12, width=8, kappa0=0.7)
    line = compute.cli_command(s, [1.0, 8.0], ("nngp", "tree"), out=str(tmp_path / "out"))
    args = line.split()[3:]
    assert main([*args, "--no-progress"]) == 0
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    task = compute.build_task(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = mc.tree_level(task.X, task.y, s.network_spec(8.0), X_test=task.X_test)
    row = table[(table["method"] == "tree") & (table["chi"] == 8.0)].iloc[0]
    assert row["train_mean_y_delta"] == pytest.approx(mc.discrepancies(task.y, direct.f_train)["mean_y_delta"],
                                                      abs=1e-9)


def test_learning_curves_equal_direct_solves(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    s = SMALL.replace(P_test=40, width=20)
    df = compute.learning_curves(s, (5, 10), 4.0)
    assert set(df["method"]) == set(compute.learning_methods("linear")) and set(df["P"]) == {5, 10}
    task = compute.build_task(s.replace(P=10))
    q = mc.posterior_quadrature(task.X, task.y, s.network_spec(4.0), X_test=task.X_test)
    row = df[(df["method"] == "quadrature") & (df["P"] == 10)].iloc[0]
    assert row["test_mean_sq_delta"] == pytest.approx(mc.discrepancies(task.y_test, q.f_test)["mean_sq_delta"],
                                                      rel=1e-9)
    # a cached exact-posterior run at this χ and P is added as a point
    compute.reference_run(task, s.replace(P=10), 4.0, "exact", dict(n_chains=4, n_sweeps=30, burn_in=5))
    df2 = compute.learning_curves(s, (5, 10), 4.0)
    ex = df2[df2["method"] == "exact"]
    assert list(ex["P"]) == [10] and ex["train_mean_y_delta_se"].iloc[0] > 0


def test_predictions_are_the_solvers_mean_predictions(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    task = compute.build_task(SMALL)
    cv = compute.theory_curves(task, SMALL, chi_grid(SMALL.width, 5), ("nngp", "tree"))
    df = compute.predictions(task, cv, 10.0)
    chi = cv.sweep.chis[np.argmin(np.abs(np.log(cv.sweep.chis) - np.log(10.0)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = mc.tree_level(task.X, task.y, SMALL.network_spec(chi), X_test=task.X_test)
    t = df[(df["method"] == "tree") & (df["split"] == "test")]
    assert np.allclose(t["predicted"], direct.f_test, atol=TIGHT) and np.array_equal(t["true"], task.y_test)


def test_estimates_grow_with_the_problem_and_are_calibrated():
    small, big = Settings(P=20, D=50, width=50), Settings(P=160, D=200, width=50)
    a = compute.estimate_seconds(small, ("tree", "one_loop"), 25)
    b = compute.estimate_seconds(big, ("tree", "one_loop"), 25)
    assert 0 < a < b
    f = compute.calibration("tree")
    assert compute.CALIBRATION_BOUNDS[0] <= f <= compute.CALIBRATION_BOUNDS[1]
    assert compute.calibration("tree") == f  # measured once per process


def test_calibration_does_not_count_the_first_calls_set_up(monkeypatch):
    # the first call of a method pays for imports (torch for Langevin) and set-up; the rate must come from later
    # calls: a fake sweep that takes 2 s the first time and 2 ms afterwards gives a rate of 2 ms
    calls = []

    def fake_sweep(*args, **kwargs):
        time.sleep(2.0 if not calls else 0.002)
        calls.append(1)

    monkeypatch.setattr(compute, "_calibration", {})
    monkeypatch.setattr(compute.mc, "sweep", fake_sweep)
    factor = compute.calibration("langevin")
    est = compute._reference_estimate(compute.REFERENCE_SLOW, "langevin", "linear",
                                      {"langevin": compute.REFERENCE_OPTIONS["langevin"]})
    assert len(calls) >= 2 and factor * est < 0.5, (factor, est)


def test_task_budget_refuses_huge_links_before_building():
    huge = Settings(P=5000, P_test=20000, D=5000, seed=3)
    msg = compute.task_problem(huge)
    assert msg and "MiB" in msg and "command line" in msg
    with pytest.raises(ValueError, match="the app builds data sets up to"):
        compute.build_task(huge)
    assert compute.task_problem(Settings()) is None


def _env(name, progress=None):
    import os  # noqa: PLC0415

    return os.environ.get(name)


def test_worker_jobs_see_the_servers_mastcore_settings_of_their_own_time(monkeypatch, tmp_path):
    Job(Call(_sleepy, 1)).run()  # the fork server is running from here on
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    assert Job(Call(_env, "MASTCORE_CACHE_DIR")).run() == str(tmp_path)


def test_langevin_estimate_uses_the_kernels_top_eigenvalue():
    # the record interval of the trainer follows from λ_max(C0)/κ0; the app computes it (Lanczos) for its estimate
    s = Settings(P=40, D=60, width=30, kappa0=0.5, activation="erf")
    task = compute.build_task(s)
    lam = compute.kernel_lambda_max(task, s)
    exact = np.linalg.eigvalsh(mc.nngp_kernel(task.X, task.X, s.network_spec(1.0)))[-1] / 0.5
    assert lam == pytest.approx(exact, rel=1e-3)
    opts = {"langevin": dict(ensemble=8, steps=1000, burn_in=100)}
    with_task = compute.estimate_seconds(s, ("langevin",), [1.0], options=opts, task=task, calibrate=False)
    without = compute.estimate_seconds(s, ("langevin",), [1.0], options=opts, calibrate=False)
    assert with_task < without  # a record every few steps instead of every step (the upper bound)


# --- ground truth on every chart ------------------------------------------------------------------------------

def test_width_scaling_with_the_quadrature_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    small = SMALL.replace(P=6, D=10)
    task = compute.build_task(small)
    df = compute.width_scaling(task, small, [8, 16], reference="quadrature")
    assert len(df) == 2 * 2 * 3 and (df["exact_se"] == 0).all()
    q = mc.posterior_quadrature(task.X, task.y, small.replace(width=8).network_spec(1.0))
    got = df[(df.width == 8) & (df.regime == "χ = 1")]["exact"].iloc[0]
    assert got == pytest.approx(mc.discrepancies(task.y, q.f_train)["mean_y_delta"], abs=TIGHT)
    with pytest.raises(ValueError, match="'reference'"):
        compute.width_scaling(task, small, [8], reference="gibbs")


def test_default_widths_bracket_P():
    from mastcore_dashboard.state import WIDTH_CHOICES, default_widths

    for P in (1, 5, 20, 80, 200, 5000):
        w = default_widths(P)
        assert len(w) >= 4 and set(w) <= set(WIDTH_CHOICES) and list(w) == sorted(w)
        if WIDTH_CHOICES[0] < P < WIDTH_CHOICES[-1]:
            assert min(w) < P < max(w), (P, w)


def test_every_library_flag_has_words():
    """Each flag name the library sets (found in its source, not listed by hand) has a sentence, and the sentence
    is what the theory curves' messages show."""
    from pathlib import Path

    from mastcore_dashboard.words import FLAG_WORDS, flag_sentence

    src = "\n".join(p.read_text() for p in Path(mc.__file__).parent.rglob("*.py"))
    found = set(re.findall(r'\.add\("([A-Za-z_0-9]+)"', src)) | set(re.findall(r'flags=\("([A-Za-z_0-9]+)",\)', src))
    found |= {"width_below_2P", "width_below_rank", "loop_correction_large", "mc_error_large", "tree_not_converged"}
    assert found and found <= set(FLAG_WORDS), found - set(FLAG_WORDS)
    text = flag_sentence("width_below_2P,loop_correction_large", N=100, P=80)
    assert "N = 100" in text and "P = 80" in text and "_" not in text


def test_theory_curve_messages_are_sentences(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    s = Settings(P=20, P_test=30, D=30, width=20)  # N = 20 < 2P: the one loop's advisory flag at every χ
    task = compute.build_task(s)
    c = compute.theory_curves(task, s, chi_grid(20, 5), ("one_loop",))
    assert c.table["flags"].str.contains("width_below_2P").all()
    assert c.messages and all("width_below_2P" not in m and "one_loop" not in m for m in c.messages)
    assert any(m.startswith("one loop at all 5 χ values: the width N = 20 is below twice") for m in c.messages)


def test_most_accurate_box_rule():
    from mastcore_dashboard.reference import closest_theory, drawn_method

    ren = {"theory": "renormalised_loop"}
    assert drawn_method(ren, ("nngp", "tree", "renormalised_loop"), "linear") == "renormalised_loop"
    assert drawn_method(ren, ("nngp", "tree", "one_loop"), "erf") == "one_loop"  # its "auto" variant
    assert drawn_method(ren, ("nngp", "tree", "one_loop"), "linear") is None  # the perturbative one loop is not it
    assert drawn_method({"theory": "particle_tree"}, ("nngp", "tree", "one_loop"), "relu") is None
    assert drawn_method({"theory": "one_loop"}, ("nngp", "tree", "one_loop"), "relu") is None  # particle saddle
    assert closest_theory({"nngp": 0.3, "tree": 0.2, "one_loop": 0.215, "quadrature": 0.21}, 0.21) == \
        ("one_loop", pytest.approx(0.005))
    assert closest_theory({"quadrature": 0.21, "tree": float("nan")}, 0.21) is None


def test_refusal_names_the_setting_to_lower():
    s = Settings.from_preset("Paper Fig. 2").replace(P=2000, D=500)
    grid = chi_grid(s.width)
    limit = compute.estimate_seconds(s, ("one_loop",), grid) / 3
    text = compute.remedy(s, ("one_loop",), grid, limit)
    name, value = re.match(r"Lower (.+) in the sidebar, to about (\d+) or less", text).groups()
    field = dict(compute.LOWER)
    key = next(k for k, label in field.items() if label == name)
    assert compute.estimate_seconds(s.replace(**{key: int(value)}), ("one_loop",), grid) <= limit  # it fits then
