"""Tests of mastcore/cache.py: hits are fast and equal, corrupted entries are recomputed, clearing empties the
store, concurrent processes do not corrupt an entry (and compute it once), keys ignore callbacks."""
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import mastcore as mc
from mastcore import cache

ROOT = Path(__file__).resolve().parent.parent
#: Acceptance 4 of issue 4: a repeated identical request returns in under 50 ms.
HIT_SECONDS = 0.05


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(d))
    return d


def _problem():
    X, y = mc.ising(30, 50, 0.1, seed=3)
    return X, y, mc.NetworkSpec(width=40)


def test_anneal_second_call_is_a_fast_equal_hit(cache_dir):
    X, y, spec = _problem()
    chis = [1.0, 4.0, 40.0]
    first = mc.anneal(X, y, spec, chis, cache=True)
    t0 = time.perf_counter()
    second = mc.anneal(X, y, spec, chis, cache=True)
    elapsed = time.perf_counter() - t0
    assert elapsed < HIT_SECONDS, f"cache hit took {elapsed * 1e3:.1f} ms"
    for m in first.methods:
        for a, b in zip(first.results[m], second.results[m]):
            np.testing.assert_array_equal(a.f_train, b.f_train)
    direct = mc.anneal(X, y, spec, chis)
    np.testing.assert_array_equal(direct.results["tree"][-1].f_train, second.results["tree"][-1].f_train)
    info = cache.cache_info()
    assert info["entries"] == 1 and info["functions"] == {"mastcore.anneal.anneal": info["functions"][
        "mastcore.anneal.anneal"]}


def test_langevin_cache_hit(cache_dir):
    X, y, spec = _problem()
    opts = mc.LangevinOptions(ensemble=4, steps=200, burn_in=50, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        a = mc.train_langevin(X, y, spec, options=opts, cache=True)
        t0 = time.perf_counter()
        b = mc.train_langevin(X, y, spec, options=opts, cache=True)
    assert time.perf_counter() - t0 < HIT_SECONDS
    np.testing.assert_array_equal(a.f_train, b.f_train)
    assert cache.cache_info()["functions"]["mastcore.langevin.train_langevin"]["entries"] == 1


def _calls():
    calls = []

    def progress(*a):
        calls.append(a)

    return calls, progress


def test_key_ignores_progress_and_binds_defaults(cache_dir):
    X, y, spec = _problem()
    calls, progress = _calls()
    mc.anneal(X, y, spec, [1.0, 2.0], progress=progress, cache=True)
    assert calls, "progress is passed through on a miss"
    mc.anneal(X, y, spec, chis=[1.0, 2.0], methods=("nngp", "tree"), cache=True)  # same call, by keyword
    assert cache.cache_info()["entries"] == 1
    mc.anneal(X, y, spec.replace(kappa0=0.5), [1.0, 2.0], cache=True)  # different spec: new entry
    assert cache.cache_info()["entries"] == 2


def test_truncated_entry_is_recomputed_with_a_warning(cache_dir):
    X, y, spec = _problem()
    first = mc.anneal(X, y, spec, [1.0, 10.0], cache=True)
    (out,) = list(cache_dir.rglob("output.pkl"))
    out.write_bytes(out.read_bytes()[:50])  # truncate
    with pytest.warns(cache.CacheWarning, match="unreadable"):
        again = mc.anneal(X, y, spec, [1.0, 10.0], cache=True)
    np.testing.assert_array_equal(first.results["tree"][1].f_train, again.results["tree"][1].f_train)
    # the entry was rewritten whole: the next call is a clean hit
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheWarning)
        mc.anneal(X, y, spec, [1.0, 10.0], cache=True)


def test_garbage_metadata_does_not_crash(cache_dir):
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    for f in cache_dir.rglob("metadata.json"):
        f.write_text("{not json")
    r = mc.anneal(X, y, spec, [1.0], cache=True)
    assert r.results["tree"][0].converged
    assert cache.cache_info()["entries"] == 1


def test_clear_empties_the_cache(cache_dir):
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    (cache_dir / "README.md").write_text("kept")
    assert cache.cache_info()["entries"] == 1
    freed = cache.clear_cache()
    assert freed > 0
    assert cache.cache_info()["entries"] == 0
    assert (cache_dir / "README.md").read_text() == "kept"


def test_cli_cache_info_and_clear(cache_dir):
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    env = {**os.environ, "MASTCORE_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    info = subprocess.run([sys.executable, "-m", "mastcore", "cache", "info"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert info.returncode == 0, info.stderr
    assert "entries: 1" in info.stdout and "mastcore.anneal.anneal" in info.stdout
    clear = subprocess.run([sys.executable, "-m", "mastcore", "cache", "clear"], capture_output=True, text=True,
                           env=env, cwd=ROOT, timeout=120)
    assert clear.returncode == 0, clear.stderr
    assert cache.cache_info()["entries"] == 0


SLOW_MODULE = textwrap.dedent(
    """
    import os, time
    import numpy as np

    def slow_square(x, log, cache=False):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(1.0)
        return {"value": np.asarray(x) ** 2, "pid": os.getpid()}
    """
)

RUNNER = textwrap.dedent(
    """
    import sys, pickle
    from mastcore.cache import cached_call
    import slowmod
    out = cached_call(slowmod.slow_square, [1.0, 2.0, 3.0], sys.argv[1])
    sys.stdout.write(repr(out["value"].tolist()))
    """
)


def test_two_processes_same_run_compute_once_and_agree(cache_dir, tmp_path):
    (tmp_path / "slowmod.py").write_text(SLOW_MODULE)
    (tmp_path / "runner.py").write_text(RUNNER)
    log = tmp_path / "calls.log"
    env = {**os.environ, "MASTCORE_CACHE_DIR": str(cache_dir), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "runner.py"), str(log)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out == "[1.0, 4.0, 9.0]"
    assert len(log.read_text().split()) == 1, "the second process must wait for and reuse the first one's entry"
    assert cache.cache_info()["entries"] == 1


def test_unusable_cache_location_falls_back_to_a_direct_call(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(blocker / "cache"))
    X, y, spec = _problem()
    with pytest.warns(cache.CacheWarning, match="uncached"):
        r = mc.anneal(X, y, spec, [1.0], cache=True)
    assert r.results["tree"][0].converged
