"""Tests of mastcore/parallel.py: the dask backend against an in-process distributed.LocalCluster (not skipped),
loky, and clear errors for bad backends."""
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

    from mastcore import _threads

    sweep_module = sys.modules["mastcore.sweep"]  # the module (mc.sweep is the function)

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
