"""Tests of mastcore/_plumbing/threads.py (the thread policy) and of the memo of work on X in mastcore/_linalg.py
(docs/theory.md §17). No test asserts a wall-clock time."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import mastcore as mc
from mastcore import _linalg
from mastcore._plumbing import threads as _threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blas_counts() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def _snapshot():
    """BLAS and torch thread counts of the caller, as threadpoolctl and torch report them."""
    torch = sys.modules.get("torch")
    return (sorted((lib["filepath"], lib["num_threads"]) for lib in threadpool_info()),
            None if torch is None else torch.get_num_threads())


@pytest.fixture(autouse=True)
def _no_env_threads(monkeypatch):
    """The policy's own decisions are tested without *_NUM_THREADS (a test sets them where it means to)."""
    for name in _threads.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield
    _threads.set_threads(None)


# --- the decision ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["nngp", "tree", "rescaled", "one_loop", "quadrature", "exact"])
def test_small_work_runs_on_one_thread(method):
    """Fig.-2 size (P = 80): one thread, even with many free cores."""
    assert _threads.choose(method, P=80, D=200, width=100, cores=16, busy=0) == 1


@pytest.mark.parametrize("method", ["nngp", "tree", "rescaled", "one_loop", "quadrature", "exact"])
def test_large_work_uses_the_free_cores(method):
    P = int(_threads.CROSSOVER[method])
    assert _threads.choose(method, P=P, D=P, width=P, cores=8, busy=0) == 8
    assert _threads.choose(method, P=P, D=P, width=P, cores=8, busy=3) == 5  # others keep 3 cores busy
    assert _threads.choose(method, P=P, D=P, width=P, cores=8, busy=20) == 1
    assert _threads.choose(method, P=P, D=P, width=P, cores=8, busy=0, caller=2) == 2  # never above the caller's
    assert _threads.choose(method, P=P, D=P, width=P, cores=1, busy=0) == 1


def test_crossover_units():
    """Linear theories compare the rank min(P, D); nngp and erf/ReLU theories P; the trainer its GEMM flops."""
    assert _threads.work_size("tree", P=5000, D=64) == 64
    assert _threads.work_size("tree", P=5000, D=64, activation="erf") == 5000
    assert _threads.work_size("nngp", P=300, D=64) == 300
    assert _threads.work_size("rescaled", P=300, D=64) == 300
    opts = {"options": mc.LangevinOptions(ensemble=8)}
    flops = _threads.work_size("langevin", P=80, D=200, width=100, activation="erf", options=opts)
    assert flops == 2 * 8 * 100 * 200 * 80
    assert _threads.noise_draws(P=80, D=200, width=100, activation="erf", options=opts) == 8 * 100 * 201
    assert _threads.noise_draws(P=80, D=200, width=100, activation="linear", options=opts) == 8 * 100 * 81


def test_trainer_plan_gives_a_spare_core_to_the_noise():
    opts = {"options": mc.LangevinOptions(ensemble=8)}
    big = dict(P=80, D=200, width=400, activation="erf", options=opts)  # 8·400·201 draws per step
    assert _threads.plan("langevin", cores=2, busy=0, **big) == _threads.Plan(1, True)
    assert _threads.plan("langevin", cores=1, busy=0, **big) == _threads.Plan(1, False)
    tiny = dict(P=8, D=12, width=8, activation="erf", options=opts)
    assert _threads.plan("langevin", cores=8, busy=0, **tiny) == _threads.Plan(1, False)
    with mc.threads(1):
        assert _threads.plan("langevin", cores=8, busy=0, **big) == _threads.Plan(1, False)
    with mc.threads(4):
        assert _threads.plan("langevin", cores=8, busy=0, **big) == _threads.Plan(3, True)


def test_user_override_beats_the_policy():
    assert _threads.choose("tree", P=80, D=200, cores=16, busy=0) == 1
    mc.set_threads(3)
    assert _threads.get_threads() == 3
    assert _threads.choose("tree", P=80, D=200, cores=16, busy=0) == 3
    with mc.threads(2):
        assert _threads.choose("tree", P=80, D=200) == 2
        with mc.threads(None):  # back to the automatic policy inside
            assert _threads.choose("tree", P=80, D=200, cores=16, busy=0) == 1
        assert _threads.get_threads() == 2
    assert _threads.get_threads() == 3
    mc.set_threads(None)
    assert _threads.get_threads() is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_name_the_argument(bad):
    with pytest.raises(ValueError, match="'n'"):
        mc.set_threads(bad)
    with pytest.raises(ValueError, match="'n'"):
        with mc.threads(bad):
            pass


def test_env_variable_means_hands_off(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert _threads.plan("tree", P=80, D=200) == _threads.Plan(None)
    mc.set_threads(2)  # an explicit call in the program is more specific than the environment
    assert _threads.choose("tree", P=80, D=200) == 2


# --- applying it ----------------------------------------------------------------------------------------------------

def test_a_solver_call_runs_on_one_thread_and_restores_the_caller():
    """Inside a public solver on a small problem BLAS runs one thread; the caller's 3 threads are back afterwards
    (threadpool_info before/after), also when the call raises."""
    X, y = mc.ising(6, 5, 0.2, seed=4)
    seen = []
    with threadpool_limits(limits=3, user_api="blas"):
        before = _snapshot()
        mc.exact_posterior(X, y, mc.NetworkSpec(width=6), n_chains=2, n_sweeps=20, burn_in=5, seed=0,
                           progress=lambda *a: seen.append(_blas_counts()))
        assert _snapshot() == before
        with pytest.raises(ValueError):
            mc.exact_posterior(X, y, mc.NetworkSpec(width=6), n_chains=2, n_sweeps=20, burn_in=5, seed=0,
                               progress=lambda *a: (_ for _ in ()).throw(ValueError("stop")))
        assert _snapshot() == before
        assert all(n == 3 for n in _blas_counts())
    assert seen and all(all(n == 1 for n in counts) for counts in seen)


def test_mc_threads_inside_a_solver_call():
    X, y = mc.ising(6, 5, 0.2, seed=4)
    seen = []
    before = _snapshot()
    with mc.threads(2):
        mc.exact_posterior(X, y, mc.NetworkSpec(width=6), n_chains=2, n_sweeps=20, burn_in=5, seed=0,
                           progress=lambda *a: seen.append(_blas_counts()))
    assert seen and all(all(n == 2 for n in counts) for counts in seen)
    assert _snapshot() == before


def test_nested_policies_keep_the_outer_callers_cap():
    """A policy inside a policy (a solver inside a sweep, the trainer after importing torch) caps by the outermost
    caller's setting, not by what the enclosing policy chose; a count already in force is not touched."""
    with threadpool_limits(limits=2, user_api="blas"):
        with _threads.policy("tree", P=80, D=200) as outer:
            assert outer.threads == 1 and all(n == 1 for n in _blas_counts())
            with _threads.policy("tree", P=80, D=200) as inner:
                assert inner.threads == 1
            assert all(n == 1 for n in _blas_counts())
            assert _threads._callers()[-1][0] == 2
        assert all(n == 2 for n in _blas_counts())


def test_torch_threads_follow_the_policy_and_come_back():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with _threads.policy("tree", P=80, D=200):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with mc.threads(3), _threads.policy("tree", P=80, D=200):
            assert torch.get_num_threads() == 3
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS caps its threads at the number of CPUs")
def test_env_variable_respected_in_a_fresh_process():
    """OPENBLAS_NUM_THREADS=2 in the environment: inside a solver's policy BLAS keeps the user's 2 threads; without
    it the same call runs one thread."""
    code = (
        "import json, threadpoolctl; from mastcore._plumbing import threads as _threads\n"
        "import numpy\n"
        "with _threads.policy('tree', P=80, D=200):\n"
        "    info = threadpoolctl.threadpool_info()\n"
        "    print(json.dumps([lib['num_threads'] for lib in info if lib['user_api'] == 'blas']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in _threads.ENV_VARS}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    user = subprocess.run([sys.executable, "-c", code], env={**env, "OPENBLAS_NUM_THREADS": "2"}, check=True,
                          capture_output=True, text=True, cwd=ROOT)
    auto = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    assert set(json.loads(user.stdout.strip().splitlines()[-1])) == {2}
    assert set(json.loads(auto.stdout.strip().splitlines()[-1])) == {1}


# --- what the machine offers ----------------------------------------------------------------------------------------

def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_available_cores_are_joblibs_count(monkeypatch):
    """The CPUs of the process (affinity, cgroup quota, $LOKY_MAX_CPU_COUNT) are joblib's count; a quota given
    explicitly caps it, rounded up (1.5 cores: two threads)."""
    import joblib

    assert _threads.available_cores() == joblib.cpu_count()
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")
    assert _threads.available_cores() == 1
    monkeypatch.setattr(joblib, "cpu_count", lambda: 6)
    assert _threads.available_cores() == 6 and _threads.available_cores(quota=1.5) == 2
    assert _threads.available_cores(affinity=8, quota=1.5) == 2


def test_unreadable_system_files_fall_back(tmp_path):
    assert _threads.available_cores(affinity=3, quota=None) == 3
    assert _threads.available_cores(affinity=3, quota=0.2) == 1
    assert 1 <= _threads.available_cores() <= (os.cpu_count() or 1)
    assert _threads.busy_cores(loadavg_path=str(tmp_path / "none")) == 0


def test_busy_cores_counts_other_processes(tmp_path):
    """Run queue 5, of which this process's own running threads (2 in the fake task list) are not others'."""
    _write(tmp_path / "loadavg", "3.10 2.00 1.00 5/300 12345\n")
    for tid, state in ((1, "R"), (2, "S"), (3, "R")):
        _write(tmp_path / "task" / str(tid) / "stat", f"{tid} (python (x)) {state} 1 2 3\n")
    busy = _threads.busy_cores(loadavg_path=str(tmp_path / "loadavg"), tasks_path=str(tmp_path / "task"))
    share = min(1.0, len(os.sched_getaffinity(0)) / (os.cpu_count() or 1)) if hasattr(os, "sched_getaffinity") else 1
    assert busy == round(3 * share)


def test_busy_cores_ignores_a_process_that_ran_for_a_moment(tmp_path, monkeypatch):
    """Readings 4, 1, 3 others running: a process in only some readings is transient; the smallest reading counts."""
    readings = iter([4, 1, 3])
    monkeypatch.setattr(_threads, "_others_running", lambda *_: next(readings))
    share = min(1.0, len(os.sched_getaffinity(0)) / (os.cpu_count() or 1)) if hasattr(os, "sched_getaffinity") else 1
    assert _threads.busy_cores(samples=3, gap=0.0) == round(1 * share)
    monkeypatch.setattr(_threads, "_others_running", lambda *_: 2)
    assert _threads.busy_cores(samples=3, gap=0.0) == round(2 * share)


# --- repeated work ----------------------------------------------------------------------------------------------------

def test_work_on_X_is_done_once_per_data_set_and_changes_nothing():
    """A sweep over 6 χ with five methods computes the SVD of X, the NNGP kernel and its eigendecomposition once;
    a user's loop over χ reuses them too; and every result is bit-identical with the memo switched off."""
    X, y = mc.ising(30, 50, 0.1, seed=2)
    Xs, _ = mc.ising(12, 50, 0.1, seed=3)
    spec = mc.NetworkSpec(width=40, chi=1.0)
    chis = [1.0, 2.0, 5.0, 10.0, 20.0, 40.0]
    methods = ("nngp", "tree", "rescaled", "one_loop", "quadrature")
    _linalg.MEMO.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memo = mc.sweep(X, y, spec, chis=chis, methods=methods, X_test=Xs)
        assert _linalg.MEMO.misses == {"row_space": 1, "nngp_kernel": 1, "nngp_kernel_eigh": 1, "nngp_cross_kernel": 1}
        assert _linalg.MEMO.hits["row_space"] >= len(chis) * 3 and _linalg.MEMO.hits["nngp_kernel_eigh"] >= 5
        loop = [mc.rescaled_kernel(X, y, spec.replace(chi=c), Xs) for c in chis]  # a user's own loop over χ
        assert _linalg.MEMO.misses["nngp_kernel_eigh"] == 1
        with _linalg.no_memo():
            plain = mc.sweep(X, y, spec, chis=chis, methods=methods, X_test=Xs)
    for m in methods:
        for a, b in zip(memo.results[m], plain.results[m]):
            np.testing.assert_array_equal(a.f_train, b.f_train)
            np.testing.assert_array_equal(a.f_test, b.f_test)
    for a, b in zip(loop, memo.results["rescaled"]):
        np.testing.assert_array_equal(a.f_train, b.f_train)


def test_memo_keys_on_content_and_is_bounded():
    X, _ = mc.ising(10, 20, 0.1, seed=1)
    _linalg.MEMO.clear()
    a = _linalg.row_space(X)
    assert _linalg.row_space(X.copy()) is a  # equal content, another array: a hit
    assert not a.U.flags.writeable  # shared results are read-only
    X2 = X.copy()
    X2[0, 0] = -X2[0, 0]
    assert _linalg.row_space(X2) is not a  # changed content: a miss
    spec = mc.NetworkSpec(width=10)
    assert mc.theory.kernels.nngp.train_kernel(X, spec) is not mc.theory.kernels.nngp.train_kernel(X, spec.replace(g_w=2.0))
    assert mc.theory.kernels.nngp.train_kernel(X, spec) is mc.theory.kernels.nngp.train_kernel(X, spec.replace(chi=5.0))
    for seed in range(_linalg.MEMO_ITEMS + 4):
        _linalg.row_space(mc.ising(10, 20, 0.1, seed=100 + seed)[0])
    assert len(_linalg.MEMO) <= _linalg.MEMO_ITEMS
    big = _linalg._Memo(max_items=8, max_bytes=1000)
    big.get("k", (1,), lambda: np.zeros(1000))  # 8000 bytes: not kept
    assert len(big) == 0 and big.total == 0 and big.misses["k"] == 1


@pytest.mark.skipif(max(_blas_counts() or [1]) < 2, reason="the BLAS runs one thread here: nothing to restore")
def test_thread_workers_of_a_sweep_keep_one_thread_until_all_finish(monkeypatch):
    """Workers of a threading-backend sweep share the process's BLAS setting: the first to finish must not restore
    the caller's count while another still runs (the parent fixes one thread for all of them)."""
    import threading
    import time

    sweep_module = sys.modules["mastcore.engine"]

    real = sweep_module._sampled_point
    first_in, second_in = threading.Event(), threading.Event()
    seen = []

    def point(job):
        result = real(job)
        big = dict(P=5000, D=5000)  # big work: the policy would take every free core
        if job[3].chi == 1:  # enters first, leaves while the other still runs
            with _threads.policy("tree", **big):
                first_in.set()
                second_in.wait(30)
        else:
            first_in.wait(30)
            with _threads.policy("tree", **big):
                second_in.set()
                time.sleep(0.2)
                seen.append(_blas_counts())
        return result

    monkeypatch.setattr(sweep_module, "_sampled_point", point)
    X, y = mc.ising(12, 10, 0.1, seed=0)
    before = _blas_counts()
    mc.sweep(X, y, mc.NetworkSpec(width=8), chis=[1.0, 4.0], methods=("exact",),
             options={"exact": {"n_chains": 4, "n_sweeps": 40, "burn_in": 10}},
             backend={"name": "threading", "n_jobs": 2})
    assert seen and all(n == 1 for n in seen[0])
    assert _blas_counts() == before  # the caller's setting is back
