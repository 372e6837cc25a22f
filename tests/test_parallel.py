"""Tests of mastcore/parallel.py: the dask backend against an in-process distributed.LocalCluster (not skipped),
loky, and clear errors for bad backends."""
from pathlib import Path

import numpy as np
import pytest

import mastcore as mc
from mastcore.parallel import BACKENDS, backend, parallel_map


def _exact_point(chi):
    X, y = mc.ising(6, 5, 0.2, seed=4)
    r = mc.exact_posterior(X, y, mc.NetworkSpec(width=6, chi=chi), n_chains=4, n_sweeps=60, burn_in=10, seed=3)
    return r.f_train


def _square(x):
    return x * x


def test_dask_backend_on_local_cluster_matches_serial():
    from distributed import LocalCluster

    chis = [1.0, 2.0, 6.0]
    serial = [_exact_point(c) for c in chis]
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with backend("dask", scheduler=cluster.scheduler_address) as client:
            assert client is not None
            done = []
            out = parallel_map(_exact_point, chis, on_done=lambda k, n: done.append(k))
            # the work really went through the cluster's scheduler
            assert client.scheduler_info()["address"] == cluster.scheduler_address
    assert done == [1, 2, 3]
    for a, b in zip(serial, out):
        np.testing.assert_array_equal(a, b)  # seeded: identical to the serial run


def test_langevin_chunks_on_dask():
    from distributed import LocalCluster

    X, y = mc.ising(6, 5, 0.2, seed=4)
    spec = mc.NetworkSpec(width=6, chi=2.0)
    opts = mc.LangevinOptions(ensemble=4, steps=100, burn_in=10, chunks=2, device="cpu")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with backend("dask", scheduler=cluster.scheduler_address):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", mc.ConvergenceWarning)
                r = mc.train_langevin(X, y, spec, options=opts)
    assert r.chain_f_train.shape == (4, 6) and np.all(np.isfinite(r.f_train))


def test_loky_and_sequential_keep_order():
    with backend("loky", n_jobs=2):
        assert parallel_map(_square, [1, 2, 3, 4]) == [1, 4, 9, 16]
    with backend("sequential"):
        assert parallel_map(_square, [3]) == [9]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="spark"), "'backend'"),
        (dict(name="loky", scheduler="tcp://x:1"), "'scheduler'"),
        (dict(name="loky", n_jobs=0), "'n_jobs'"),
    ],
)
def test_bad_backend_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        with backend(**kwargs):
            pass


def test_ray_missing_is_a_clear_error():
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="ray"):
            with backend("ray"):
                pass
    else:  # pragma: no cover
        assert "ray" in BACKENDS


def test_sweep_points_in_shared_process_workers_run_one_thread(monkeypatch):
    """With a backend whose workers share this process (threading), each sampled point runs under a one-thread
    override (the points are the parallelism, docs/theory.md §17); the caller's setting is back afterwards."""
    from threadpoolctl import threadpool_info

    import sys

    from mastcore._plumbing import threads as _threads

    sweep_module = sys.modules["mastcore.engine"]  # the sweep engine (mc.sweep is its function)

    seen = []
    original = sweep_module._sampled_point

    def spy(job):  # the override in force where the point's solver enters the policy (see tests/test_threads.py)
        seen.append(_threads.get_threads())
        return original(job)

    monkeypatch.setattr(sweep_module, "_sampled_point", spy)
    X, y = mc.ising(6, 5, 0.2, seed=4)
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    res = mc.sweep(X, y, mc.NetworkSpec(width=6), chis=[1.0, 3.0], methods=("exact",),
                   options={"exact": {"n_chains": 4, "n_sweeps": 40, "burn_in": 10}},
                   backend={"name": "threading", "n_jobs": 2})
    assert seen == [1, 1]
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before
    assert _threads.get_threads() is None and all(r is not None for r in res.results["exact"])


def test_cluster_sweep_keeps_its_cache_in_the_caller_and_resumes(tmp_path, monkeypatch):
    """Workers with caches of their own only compute: the caller's cache holds every point (with the metadata the
    app lists runs by), a rerun sends nothing to the cluster, and a sweep missing one point computes only it."""
    from distributed import LocalCluster, get_task_stream

    from mastcore._plumbing import cache

    mine, theirs = tmp_path / "caller", tmp_path / "worker"
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(mine))
    X, y = mc.ising(6, 5, 0.2, seed=4)
    spec = mc.NetworkSpec(width=6)
    chis = [1.0, 2.0, 6.0]
    kwargs = dict(chis=chis, methods=("exact",), options={"exact": dict(n_chains=4, n_sweeps=60, burn_in=10)},
                  cache=True)
    # a worker process whose environment points its cache elsewhere
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
                      env={"MASTCORE_CACHE_DIR": str(theirs)}) as cluster:
        conf = {"name": "dask", "scheduler": cluster.scheduler_address}
        with backend("dask", scheduler=cluster.scheduler_address) as client:
            env = client.run(lambda: __import__("os").environ.get("MASTCORE_CACHE_DIR"))
            assert list(env.values()) == [str(theirs)]
            with get_task_stream(client) as first:
                a = mc.sweep(X, y, spec, backend=conf, **kwargs)
            stored = cache.entries("mastcore.posterior.gibbs.exact_posterior")
            assert len(first.data) > 0, "the points were computed on the cluster"
            assert sorted(e["meta"]["chi"] for e in stored) == chis
            assert all(e["meta"]["method"] == "exact" and "row" in e["meta"] for e in stored)
            assert not theirs.exists(), "a worker never writes a cache"

            with get_task_stream(client) as again:
                b = mc.sweep(X, y, spec, backend=conf, **kwargs)
            assert again.data == [], "a rerun computes nothing"

            cache._remove_entry(Path(stored[1]["path"]))  # as if the sweep had been interrupted before χ = 2
            with get_task_stream(client) as resumed:
                c = mc.sweep(X, y, spec, backend=conf, **kwargs)
            assert len(resumed.data) > 0 and len(cache.entries("mastcore.posterior.gibbs.exact_posterior")) == 3
    for r1, r2, r3 in zip(a.results["exact"], b.results["exact"], c.results["exact"]):
        np.testing.assert_array_equal(r1.f_train, r2.f_train)
        np.testing.assert_array_equal(r1.f_train, r3.f_train)  # seeded: the recomputed point is the same
