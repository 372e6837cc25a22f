"""Tests of the disk cache (mastcore/_plumbing/cache.py; its public face is mastcore/cache.py): hits are fast and
equal; keys follow the source code; damaged or mistyped entries are recomputed; clearing removes only cache
entries; the size cap holds; concurrent processes compute once."""
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
from mastcore._plumbing import cache

ROOT = Path(__file__).resolve().parent.parent
#: A repeated identical request must come back without recomputing: well under the 0.1 s an uncached call takes.
HIT_SECONDS = 0.05


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(d))
    monkeypatch.delenv("MASTCORE_CACHE_MAX_BYTES", raising=False)
    return d


def _problem():
    X, y = mc.ising(30, 50, 0.1, seed=3)
    return X, y, mc.NetworkSpec(width=40)


def test_sweep_second_call_is_a_fast_equal_hit(cache_dir):
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
    assert info["entries"] == 1 and list(info["functions"]) == ["mastcore.engine._deterministic"]


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
    assert cache.cache_info()["functions"]["mastcore.posterior.langevin.train_langevin"]["entries"] == 1


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
    mc.sweep(X, y, spec, chis=[1.0, 2.0], methods=("nngp", "tree"), cache=True)  # same call, by keyword
    assert cache.cache_info()["entries"] == 1
    mc.anneal(X, y, spec.replace(kappa0=0.5), [1.0, 2.0], cache=True)  # different spec: new entry
    assert cache.cache_info()["entries"] == 2


def _entry_file(cache_dir, name):
    (path,) = list(cache_dir.rglob(name))
    return path


def test_truncated_entry_is_recomputed_with_a_warning(cache_dir):
    X, y, spec = _problem()
    first = mc.anneal(X, y, spec, [1.0, 10.0], cache=True)
    out = _entry_file(cache_dir, cache.RESULT)
    out.write_bytes(out.read_bytes()[:50])  # truncate
    with pytest.warns(cache.CacheWarning, match="unusable"):
        again = mc.anneal(X, y, spec, [1.0, 10.0], cache=True)
    np.testing.assert_array_equal(first.results["tree"][1].f_train, again.results["tree"][1].f_train)
    # the entry was rewritten whole: the next call is a clean hit
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheWarning)
        mc.anneal(X, y, spec, [1.0, 10.0], cache=True)


def test_garbage_marker_is_a_miss(cache_dir):
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    _entry_file(cache_dir, cache.MARKER).write_text("{not json")
    r = mc.anneal(X, y, spec, [1.0], cache=True)
    assert r.results["tree"][0].converged
    assert cache.cache_info()["entries"] == 1


def test_loaded_entry_is_type_checked(cache_dir):
    X, y, spec = _problem()
    mc.tree_level(X, y, spec, cache=True)
    import joblib

    joblib.dump({"f_train": "not a result"}, _entry_file(cache_dir, cache.RESULT))  # same file, wrong content
    with pytest.warns(cache.CacheWarning, match="unusable"):
        r = mc.tree_level(X, y, spec, cache=True)
    assert isinstance(r, mc.TreeResult) and r.converged


SOLVER_V1 = """
import numpy as np
from .helper import scale
from . import policy

def solve(x, cache=False):
    return np.asarray(x) * scale() + 1.0
"""
HELPER_V1 = "def scale():\n    return 2.0\n"


def _import_fresh(tmp_path, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    for name in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
        sys.modules.pop(name)
    importlib.invalidate_caches()
    return importlib.import_module("pkgx.solver")


def test_a_change_to_the_source_recomputes(cache_dir, tmp_path, monkeypatch):
    """The key follows the source of the solver and of the modules of its package it imports (here a helper)."""
    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "solver.py").write_text(SOLVER_V1)
    (pkg / "helper.py").write_text(HELPER_V1)
    (pkg / "unrelated.py").write_text("X = 1\n")
    (pkg / "policy.py").write_text("CACHE_NEUTRAL = True\nTHREADS = 1\n")
    mod = _import_fresh(tmp_path, monkeypatch)
    assert cache.cached_call(mod.solve, [1.0]).tolist() == [3.0]
    assert cache.cached_call(mod.solve, [1.0]).tolist() == [3.0]
    assert cache.cache_info()["entries"] == 1
    (pkg / "unrelated.py").write_text("X = 2  # changed\n")  # not imported by the solver: still a hit
    (pkg / "policy.py").write_text("CACHE_NEUTRAL = True\nTHREADS = 2  # changed\n")  # imported, declared neutral
    mod = _import_fresh(tmp_path, monkeypatch)
    created = {m["created"] for m in cache.entries()}
    assert cache.cached_call(mod.solve, [1.0]).tolist() == [3.0] and {m["created"] for m in cache.entries()} == created
    # changed code (same function, same arguments): computed again, not read back
    (pkg / "helper.py").write_text("def scale():\n    return 5.0  # changed\n")
    mod = _import_fresh(tmp_path, monkeypatch)
    assert cache.cached_call(mod.solve, [1.0]).tolist() == [6.0]
    assert cache.cache_info()["entries"] == 1  # the entry of the old code was pruned
    (pkg / "solver.py").write_text(SOLVER_V1.replace("+ 1.0", "+ 2.0"))
    mod = _import_fresh(tmp_path, monkeypatch)
    assert cache.cached_call(mod.solve, [1.0]).tolist() == [7.0]


def test_source_hash_of_mastcore_follows_its_imports():
    deps = cache._closure("mastcore.theory.loops.one_loop")
    assert "mastcore.theory.tree.linear" in deps and "mastcore.theory.kernels.nngp" in deps
    assert "mastcore.posterior.langevin" not in deps  # unrelated code does not invalidate one-loop results
    assert "mastcore.engine" in cache._closure("mastcore.engine")


def test_clear_removes_only_cache_entries(cache_dir):
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    mc.tree_level(X, y, spec, cache=True)
    store = cache_dir / cache.STORE
    user_files = [cache_dir / "README.md", cache_dir / "joblib" / "notes.txt", store / "mine.txt",
                  store / "mastcore.engine._deterministic" / "keep.csv"]
    for f in user_files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("the user's")
    assert cache.cache_info()["entries"] == 2
    before = cache.cache_info()["bytes"]
    freed = cache.clear_cache()
    assert freed == before > 0
    assert cache.cache_info() == {**cache.cache_info(), "entries": 0, "bytes": 0}
    for f in user_files:
        assert f.read_text() == "the user's", f


def test_info_counts_only_entries(cache_dir):
    X, y, spec = _problem()
    mc.tree_level(X, y, spec, cache=True)
    n = cache.cache_info()["bytes"]
    (cache_dir / "big.bin").write_bytes(b"x" * 100_000)
    assert cache.cache_info()["bytes"] == n and cache.cache_info()["entries"] == 1


def test_size_cap_evicts_least_recently_used(cache_dir, monkeypatch):
    cap = 3 * 1024**2
    monkeypatch.setenv("MASTCORE_CACHE_MAX_BYTES", str(cap))
    X, y = mc.ising(110, 50, 0.1, seed=0)
    spec = mc.NetworkSpec(width=200)
    sweeps = []
    for k in range(3):  # each one-loop sweep stores several P×P matrices at 2 χ: ~1.3 MB
        sweeps.append(dict(X=X, y=y, spec=spec.replace(kappa0=1.0 + k), chis=[1, 200], methods=("tree", "one_loop")))
        with warnings.catch_warnings():
            warnings.simplefilter("error", cache.CacheWarning)  # every sweep fits and is stored
            mc.sweep(cache=True, **sweeps[-1])
        assert 0 < cache.cache_info()["bytes"] <= cap
    assert cache.cache_info()["entries"] < 3, "the cap must have evicted something"
    # the most recent sweep is still there (least recently used ones go first): running it again writes nothing
    kept = {(m["key"], m["created"]) for m in cache.entries()}
    mc.sweep(cache=True, **sweeps[-1])
    assert {(m["key"], m["created"]) for m in cache.entries()} == kept


def test_an_entry_larger_than_the_cap_is_not_stored(cache_dir, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_MAX_BYTES", "1000")
    X, y, spec = _problem()
    with pytest.warns(cache.CacheWarning, match="larger than the cache cap"):
        r = mc.tree_level(X, y, spec, cache=True)
    assert r.converged and cache.cache_info()["entries"] == 0


def test_bad_cap_is_a_clear_error(cache_dir, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="MASTCORE_CACHE_MAX_BYTES"):
        cache.max_bytes()


def test_cli_cache_info_and_clear(cache_dir):
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    (cache_dir / "user.txt").write_text("kept")
    env = {**os.environ, "MASTCORE_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    run = lambda *a, **kw: subprocess.run([sys.executable, "-m", "mastcore", "cache", *a], capture_output=True,  # noqa: E731
                                          text=True, env=env, cwd=ROOT, timeout=120, **kw)
    info = run("info")
    assert info.returncode == 0, info.stderr
    assert "entries: 1" in info.stdout and "mastcore.engine._deterministic" in info.stdout
    declined = run("clear", input="n\n")
    assert declined.returncode == 1 and cache.cache_info()["entries"] == 1
    clear = run("clear", "--yes")
    assert clear.returncode == 0, clear.stderr
    assert cache.cache_info()["entries"] == 0 and (cache_dir / "user.txt").read_text() == "kept"


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
    with pytest.warns(cache.CacheWarning, match="could not write"):
        r = mc.anneal(X, y, spec, [1.0], cache=True)
    assert r.results["tree"][0].converged


# --- location and safety (entries are pickles: only the user's own files are loaded) ------------------------


def _stored(cache_dir):
    """Store one small entry; returns (arguments, its entry directory)."""
    X, y, spec = _problem()
    mc.anneal(X, y, spec, [1.0], cache=True)
    (marker,) = list(cache_dir.rglob(cache.MARKER))
    return (X, y, spec), marker.parent


def _hit_or_warn(args):
    """Ask for the stored run again; returns the CacheWarnings it raised."""
    X, y, spec = args
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mc.anneal(X, y, spec, [1.0], cache=True)
    return [w for w in caught if issubclass(w.category, cache.CacheWarning)]


def test_own_private_directory_is_used_silently(cache_dir):
    args, entry = _stored(cache_dir)
    assert cache.unsafe_reason() is None and cache.unsafe_reason(entry) is None
    assert _hit_or_warn(args) == []
    assert not os.stat(entry).st_mode & 0o077, "entry directories are private whatever the umask"


def test_directory_writable_by_others_is_refused(cache_dir):
    args, _ = _stored(cache_dir)
    os.chmod(cache_dir, 0o777)  # no sticky bit: anyone could plant an entry
    assert "writable by others" in cache.unsafe_reason()
    assert "REFUSED" in cache.format_info(cache.cache_info())  # `mastcore cache info` says so
    caught = _hit_or_warn(args)
    assert caught and "not safe" in str(caught[0].message)
    with pytest.raises(cache.CacheMiss), pytest.warns(cache.CacheWarning, match="not safe"):
        cache.cached_call(mc.tree_level, *args, only_cached=True)


def test_group_writable_store_is_refused(cache_dir):
    args, _ = _stored(cache_dir)
    os.chmod(cache_dir / cache.STORE, 0o775)
    assert "writable by its group" in cache.unsafe_reason()
    assert _hit_or_warn(args)


def test_sticky_shared_folder_is_accepted(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(shared))
    args, entry = _stored(shared)
    assert cache.unsafe_reason(entry) is None
    assert _hit_or_warn(args) == []


def test_directory_of_another_user_is_refused(cache_dir, monkeypatch):
    args, _ = _stored(cache_dir)
    monkeypatch.setattr(cache.os, "getuid", lambda: os.stat(cache_dir).st_uid + 1)  # the files are someone else's
    assert "not by the current user" in cache.unsafe_reason()
    caught = _hit_or_warn(args)
    assert caught and "not safe" in str(caught[0].message)
    assert cache.entries() == [], "another user's entries are not listed"


def test_entry_writable_by_others_is_not_loaded(cache_dir, monkeypatch):
    args, entry = _stored(cache_dir)
    os.chmod(entry / cache.RESULT, 0o666)
    loaded = []
    monkeypatch.setattr(cache.joblib, "load", lambda *a, **k: loaded.append(a))
    caught = _hit_or_warn(args)
    assert caught and "not safe to load" in str(caught[0].message) and "writable by others" in str(caught[0].message)
    assert loaded == [], "a planted entry must never be unpickled"
    assert (entry / cache.RESULT).exists(), "another user's file is left alone"


def test_entry_of_another_user_is_not_loaded(cache_dir, monkeypatch):
    args, entry = _stored(cache_dir)
    real_lstat = os.lstat
    victim = str(entry / cache.RESULT)

    class Foreign:  # os.lstat of the planted file, as if another user had written it
        def __init__(self, st):
            self.st_mode, self.st_uid = st.st_mode, st.st_uid + 1

    monkeypatch.setattr(cache.os, "lstat", lambda p: Foreign(real_lstat(p)) if str(p) == victim else real_lstat(p))
    loaded = []
    monkeypatch.setattr(cache.joblib, "load", lambda *a, **k: loaded.append(a))
    caught = _hit_or_warn(args)
    assert caught and "not by the current user" in str(caught[0].message)
    assert loaded == []


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MASTCORE_CACHE_DIR")
    if (ROOT / "app.py").is_file() and (ROOT / "cache").is_dir():
        assert cache.cache_dir() == ROOT / "cache"  # a checkout keeps its ./cache
    monkeypatch.setattr(cache, "_checkout_cache", lambda: None)  # as installed
    import platformdirs

    assert cache.cache_dir() == Path(platformdirs.user_cache_dir("mastcore", appauthor=False))
    assert "site-packages" not in str(cache.cache_dir())


def test_share_cap_evicts_only_its_own_entries(cache_dir):
    X, y, spec = _problem()
    before = dict(cache._SHARE)  # importing the app's compute module labels this process "app"
    cache.set_share(None)
    try:
        mc.anneal(X, y, spec, [1.0], cache=True)  # not the app's: stays
        size = cache.cache_info()["bytes"]
        cache.set_share("app", size * 3 // 2)  # room for one entry: each new app entry evicts the previous one
        mc.anneal(X, y, spec, [2.0], cache=True)
        mc.anneal(X, y, spec, [3.0], cache=True)
    finally:
        cache.set_share(before["name"], before["max_bytes"])
    shares = sorted(str(m.get("share")) for m in cache.entries())
    assert shares == ["None", "app"], shares
    assert cache.cache_info()["entries"] == 2
    with pytest.raises(ValueError, match="'max_bytes'"):
        cache.set_share("app", -1)
