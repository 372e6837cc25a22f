"""The resource budget (mastcore/_plumbing/budget.py): estimates, the limit, refusals before allocating (docs/theory.md §16).

Timing claims are measured by bench/resources.py; here only that refusals are fast (a refusal allocates nothing
and must not take the time of the work it refuses) and that the memory estimate matches a measured call.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import mastcore as mc
from mastcore._plumbing import budget as _budget
from mastcore.engine import METHODS

ROOT = Path(__file__).resolve().parent.parent
#: A refusal must come quickly: the estimate reads sizes only (generous for a loaded 2-core machine).
REFUSAL_SECONDS = 2.0
#: ... and allocate (almost) nothing.
REFUSAL_BYTES = 20 * 2**20
#: Estimated peak memory within this factor of the measured one (the bench's target, docs/theory.md §16).
MEMORY_FACTOR = 2.0

SIZES = dict(P=80, D=200, width=100, P_test=1000)
OPTIONS = {"exact": dict(n_chains=8, n_sweeps=100), "langevin": dict(ensemble=4, steps=100)}


@pytest.fixture()
def limit(monkeypatch):
    def set_limit(value):
        monkeypatch.setenv("MASTCORE_MAX_BYTES", str(value))

    return set_limit


@pytest.mark.parametrize("method", _budget.METHODS)
@pytest.mark.parametrize("activation", ["linear", "erf"])
def test_estimate_monotonic_in_every_size(method, activation):
    if activation == "erf" and method in ("one_loop", "quadrature", "exact"):
        pytest.skip("linear networks only")
    base = dict(SIZES, activation=activation, **OPTIONS.get(method, {}))
    c0 = mc.estimate(method, **base)
    assert c0.bytes > 0 and c0.seconds > 0 and 0 < c0.result_bytes <= c0.bytes and c0.what
    grow = ["P", "D", "P_test", "width"] + {"exact": ["n_chains", "n_sweeps"],
                                            "langevin": ["ensemble", "steps"]}.get(method, [])
    for key in grow:
        for factor in (2, 10):
            c = mc.estimate(method, **{**base, key: base[key] * factor})
            assert c.bytes >= c0.bytes and c.seconds >= c0.seconds * (1 - 1e-12), (key, factor)


def test_estimate_arguments_validated():
    with pytest.raises(ValueError, match="'method'"):
        mc.estimate("magic", P=10, D=10, width=10)
    with pytest.raises(ValueError, match="'P'"):
        mc.estimate("nngp", P=0, D=10, width=10)
    with pytest.raises(ValueError, match="'width'"):
        mc.estimate("nngp", P=10, D=10, width=float("nan"))
    with pytest.raises(ValueError, match="'activation'"):
        mc.estimate("nngp", P=10, D=10, width=10, activation="sigmoid")  # not registered
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_chain'\]"):
        mc.estimate("exact", P=10, D=10, width=10, n_chain=3)
    with pytest.raises(ValueError, match="'n_chains'"):
        mc.estimate("exact", P=10, D=10, width=10, n_chains=1)
    opts = mc.LangevinOptions(ensemble=4, steps=50, burn_in=5)
    langevin = mc.estimate("langevin", P=10, D=10, width=10, options=opts)
    assert langevin == mc.estimate("langevin", P=10, D=10, width=10, ensemble=4, steps=50, burn_in=5)
    assert isinstance(mc.ResourceError("x"), ValueError)


def test_sweep_estimate_adds_results_and_takes_the_largest_call():
    one = mc.estimate("tree", **SIZES)
    sweep = mc.estimate_sweep(**SIZES, chis=[1, 2, 5], methods=("nngp", "tree"))
    nngp = mc.estimate("nngp", **SIZES)
    assert sweep.result_bytes >= nngp.result_bytes + 3 * one.result_bytes * 0.99
    assert sweep.bytes >= one.bytes and sweep.seconds > nngp.seconds + one.seconds
    sub = mc.estimate_sweep(**SIZES, chis=[1, 2, 5], methods=("exact",), options={"exact": {"chis": [1]}})
    assert sub.seconds == pytest.approx(mc.estimate("exact", **SIZES).seconds)


@pytest.mark.parametrize("text, expected", [("1000", 1000), ("8G", 8 * 2**30), ("512 MiB", 512 * 2**20),
                                            ("1e9", 10**9), ("2k", 2048)])
def test_limit_from_environment(limit, text, expected):
    limit(text)
    assert _budget.max_bytes() == expected


@pytest.mark.parametrize("text", ["lots", "-5", "0", "inf", "3X"])
def test_bad_limit_named(limit, text, monkeypatch):
    limit(text)
    with pytest.raises(ValueError, match="MASTCORE_MAX_BYTES"):
        _budget.max_bytes()


def test_default_limit_is_half_the_available_memory(monkeypatch):
    monkeypatch.delenv("MASTCORE_MAX_BYTES", raising=False)
    avail = _budget.available_memory()
    assert 0 < avail and abs(_budget.max_bytes() - avail / 2) < 0.05 * avail  # memory moves between the reads
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem_available = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    assert avail <= mem_available * 1.05


def _refused_fast(call):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(mc.ResourceError) as info:
            call()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < REFUSAL_SECONDS and peak < REFUSAL_BYTES, (seconds, peak)
    message = str(info.value)
    assert "would need about" in message and "limit" in message and "MASTCORE_MAX_BYTES" in message
    assert info.value.cost.bytes > info.value.limit
    return message


@pytest.mark.parametrize("how", ["default limit", "explicit limit"])
def test_huge_work_refused_before_allocating(how, limit, monkeypatch):
    if how == "explicit limit":
        limit("4G")
    else:
        monkeypatch.delenv("MASTCORE_MAX_BYTES", raising=False)
    X, y = mc.ising(80, 200, 0.1, seed=0)
    msg = _refused_fast(lambda: mc.train_langevin(X, y, mc.NetworkSpec(width=100000, chi=1.0),
                                                  options=mc.LangevinOptions(ensemble=100000)))
    assert "100000 networks" in msg
    msg = _refused_fast(lambda: mc.exact_posterior(X, y, mc.NetworkSpec(width=100), n_chains=10**7))
    assert "10000000 chains" in msg


def test_sweep_at_P_20000_refused_up_front(limit):
    limit("4G")
    X, y = mc.ising(20000, 20, 0.1, seed=0)
    msg = _refused_fast(lambda: mc.sweep(X, y, mc.NetworkSpec(width=100), chis=[1, 10, 100],
                                         methods=("nngp", "tree", "one_loop")))
    assert msg.startswith("sweep of nngp, tree, one_loop over 3 chi values (P=20000")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # tiny runs: convergence and width warnings are expected
@pytest.mark.parametrize("method", _budget.METHODS)
def test_every_solver_checks_the_budget(method, limit):
    limit("1K")  # far below what any call needs
    X, y = mc.ising(30, 40, 0.1, seed=0)
    spec = mc.NetworkSpec(width=20)
    call = METHODS[method].func
    kw = {"langevin": {"options": mc.LangevinOptions(ensemble=2, steps=10, burn_in=1)},
          "exact": dict(n_chains=2, n_sweeps=20, burn_in=2)}.get(method, {})
    with pytest.raises(mc.ResourceError, match="MASTCORE_MAX_BYTES"):
        call(X, y, spec, **kw)
    limit("4G")
    assert call(X, y, spec, **kw).f_train.shape == (30,)


def test_cached_call_checks_the_budget_too(limit, tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    X, y = mc.ising(30, 40, 0.1, seed=0)
    limit("1K")
    with pytest.raises(mc.ResourceError):
        mc.exact_posterior(X, y, mc.NetworkSpec(width=20), n_chains=4, n_sweeps=20, cache=True)
    assert not any(tmp_path.rglob("result.joblib"))


def _measured_peak(method: str, P: int, options: dict) -> int:
    """Peak RSS above the start of the call, in a fresh process (bench/resources.py's measurement)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_MMAP_THRESHOLD_": "65536"}
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'bench')!r}); import resources; "
            f"resources.options_for = lambda row, P: {options!r}; "
            f"print(json.dumps(resources.point({method!r}, {P}, 200, 500, 100, 'mem')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])["bytes"]


@pytest.mark.parametrize("method, P, options", [("tree", 600, {}),
                                               ("exact", 300, dict(n_chains=16, n_sweeps=50, burn_in=5))])
def test_memory_estimate_matches_a_measured_call(method, P, options):
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to reset the peak resident set")
    measured = _measured_peak(method, P, options)
    est = mc.estimate(method, P=P, D=200, width=100, P_test=500, **options).bytes
    assert 1 / MEMORY_FACTOR <= measured / est <= MEMORY_FACTOR, (measured, est)


_SWEEP_PEAK = """
import json, gc, warnings
import numpy as np
import mastcore as mc
from mastcore import _linalg
warnings.simplefilter("ignore")
X, y = mc.ising(600, 50, 0.1, seed=0)
spec = mc.NetworkSpec(width=50, chi=1.0, g_v=0.5, g_w=0.5)
mc.sweep(X[:20], y[:20], spec, chis=[1.0, 2.0], methods=("tree",), X_test=X[:20])  # imports, first-call set-up
_linalg.MEMO.clear()
mc.theory.bands._COMPANIONS.clear()
gc.collect()
def rss(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))
open("/proc/self/clear_refs", "w").write("5")
r0 = rss("VmRSS:")
result = mc.sweep(X[:300], y[:300], spec, chis=list(np.geomspace(1, 50, 25)), methods=("tree",), X_test=X[300:])
print(json.dumps(rss("VmHWM:") - r0))
"""


def test_sweep_memory_estimate_counts_the_band_companions():
    """A sweep's theory results carry error bands whose companions (one per χ) stay in memory: at P = 300 over 25 χ
    they are most of the sweep's peak (117 MiB measured, 38 MiB without the bands), and the estimate counts them."""
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to reset the peak resident set")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_MMAP_THRESHOLD_": "65536"}
    p = subprocess.run([sys.executable, "-c", _SWEEP_PEAK], capture_output=True, text=True, env=env, timeout=300,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    measured = json.loads(p.stdout.strip().splitlines()[-1])
    est = mc.estimate_sweep(P=300, D=50, width=50, P_test=300, chis=list(np.geomspace(1, 50, 25)),
                            methods=("tree",)).bytes
    assert 1 / MEMORY_FACTOR <= measured / est <= MEMORY_FACTOR, (measured, est)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nngp", "rescaled", "one_loop", "quadrature", "langevin"])
def test_memory_estimate_matches_measured_calls_slow(method):
    options = dict(ensemble=8, steps=200, burn_in=20) if method == "langevin" else {}
    measured = _measured_peak(method, 700, options)
    est = mc.estimate(method, P=700, D=200, width=100, P_test=500, **options).bytes
    assert 1 / MEMORY_FACTOR <= measured / est <= MEMORY_FACTOR, (measured, est)


def test_the_error_band_is_priced():
    """A theory result gets its error band from the band companion, a renormalised one loop run after the call
    (docs/theory.md §19.1): its estimate counts that run; results with a band of their own, exact ones and samplers
    do not. In a sweep the companion runs once per χ, whichever methods share it."""
    from mastcore.theory.bands import COMPANION_SAMPLES

    kw = dict(P=120, D=60, width=50, P_test=200)

    def companion(chi, activation="linear"):  # what bands.companion runs
        return mc.estimate("one_loop", variant="renormalised", n_samples=COMPANION_SAMPLES,
                           max_samples=COMPANION_SAMPLES, chi=chi, activation=activation, band=False, **kw)

    for method in ("nngp", "tree", "rescaled"):
        own, banded = mc.estimate(method, band=False, **kw), mc.estimate(method, **kw)
        assert banded.seconds == pytest.approx(own.seconds + companion(None).seconds)
        assert banded.bytes >= own.result_bytes + companion(None).bytes and banded.bytes >= own.bytes
    assert mc.estimate("one_loop", variant="perturbative", **kw).seconds > mc.estimate(
        "one_loop", variant="perturbative", band=False, **kw).seconds
    for method, opts in (("renormalised_loop", {}), ("one_loop", {}), ("quadrature", {}),
                         ("exact", OPTIONS["exact"])):  # own band, "auto" (lends its own), exact, sampler
        assert mc.estimate(method, **kw, **opts) == mc.estimate(method, band=False, **kw, **opts), method
    erf = dict(kw, activation="erf")
    assert mc.estimate("nngp", **erf).seconds == pytest.approx(mc.estimate("nngp", band=False, **erf).seconds
                                                               + companion(None, "erf").seconds)
    chis = [1.0, 4.0, 16.0]
    sweep = mc.estimate_sweep(**kw, chis=chis, methods=("nngp", "tree"))
    parts = (mc.estimate("nngp", band=False, **kw).seconds
             + sum(mc.estimate("tree", band=False, chi=c, **({"warm": True} if c > 1 else {}), **kw).seconds
                   for c in chis))
    assert sweep.seconds == pytest.approx(parts + sum(companion(c).seconds for c in chis))


def test_cli_check_budget_counts_the_task(limit):
    from mastcore.cli import check_budget

    limit("4G")
    task = mc.TaskSpec(name="ising", P=80, P_test=1000, D=1_000_000)
    with pytest.raises(mc.ResourceError, match="task 'ising'"):
        check_budget(task, mc.NetworkSpec(width=100), [1.0], ("nngp",), {})
    assert mc.estimate_task(task).bytes > 3 * 1080 * 1_000_000 * 8
    small = mc.TaskSpec(name="ising", P=80, P_test=1000, D=200)
    assert check_budget(small, mc.NetworkSpec(width=100), [1.0, 10.0], ("nngp", "tree"), {}).bytes < 2**30
    assert np.isfinite(mc.estimate_task(mc.TaskSpec(name="digits", P=100, P_test=100)).seconds)


def test_estimates_use_the_solvers_own_defaults():
    # the cost model does not keep its own copy of solver defaults: what it assumes equals what the solvers use
    import inspect

    from mastcore.theory import bands
    from mastcore.theory.tree import particles as _nonlinear_particles, level as tree
    from mastcore.theory.loops import cumulants as cumulant_loop, nngp_expansion

    sig = inspect.signature(_nonlinear_particles.particle_tree).parameters
    assumed = _budget._solver_defaults()
    assert assumed["particles"] == {k: sig[k].default for k in assumed["particles"]}
    assert assumed["gaussian_stages"] == inspect.signature(tree.tree_level).parameters["n_stages"].default
    assert assumed["loop_block"] == max(nngp_expansion.BLOCK, cumulant_loop.BLOCK)
    assert assumed["companion_samples"] == bands.COMPANION_SAMPLES  # the band companion's prior samples
    # and an explicit option changes the estimate the way the work changes: twice the MALA particles, or twice the
    # weighted draws (a warm start: no Gaussian proposal to solve first), about twice the time
    kw = dict(P=30, D=40, width=30, activation="erf", ansatz="particles", band=False)  # the tree's own work
    mala = dict(kw, estimator="mala")
    one, two = mc.estimate("tree", **mala), mc.estimate("tree", n_particles=2 * assumed["particles"]["n_particles"],
                                                          **mala)
    assert 1.6 < two.seconds / one.seconds < 2.1 and two.bytes > one.bytes
    warm = dict(kw, warm=True)
    one, two = mc.estimate("tree", **warm), mc.estimate("tree", n_draws=2 * assumed["particles"]["n_draws"], **warm)
    assert 1.6 < two.seconds / one.seconds < 2.1 and two.bytes > one.bytes


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_memory_limit_of_the_process_own_cgroup_and_its_ancestors(version, tmp_path):
    # a fake /sys/fs/cgroup: no limit at the root, 3 GiB on the container's group, 1 GiB on the process's own group
    GiB = 1024**3
    base = tmp_path / "cgroup" if version == "v2" else tmp_path / "cgroup" / "memory"
    limit_name, usage_name = (("memory.max", "memory.current") if version == "v2"
                              else ("memory.limit_in_bytes", "memory.usage_in_bytes"))
    unlimited = "max" if version == "v2" else str(9223372036854771712)
    for rel, limit, used in (("", unlimited, 5 * GiB), ("box", str(3 * GiB), 2 * GiB),
                             ("box/job", str(1 * GiB), GiB // 4)):
        d = base / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / limit_name).write_text(limit + "\n")
        (d / usage_name).write_text(f"{used}\n")
    proc = tmp_path / "cgroup.txt"
    proc.write_text("0::/box/job\n" if version == "v2" else "4:memory:/box/job\n1:cpu:/\n0::/\n")
    free = _budget._cgroup_free(root=str(tmp_path / "cgroup"), proc=str(proc))
    assert sorted(free) == [GiB - GiB // 4, GiB]  # own group: 0.75 GiB free; container: 3 − 2 = 1 GiB free
    # a process in the root group sees only the root's (here: none)
    proc.write_text("0::/\n" if version == "v2" else "4:memory:/\n")
    assert _budget._cgroup_free(root=str(tmp_path / "cgroup"), proc=str(proc)) == []


@pytest.mark.parametrize("call,match", [
    (lambda: mc.estimate_sweep(P=10, D=5, width=10, chis=["abc"], methods=("tree",)), "'chis' must be a real number"),
    (lambda: mc.estimate_sweep(P=10, D=5, width=10, chis=[float("nan")], methods=("tree",)), "'chis' must be finite"),
    (lambda: mc.estimate_sweep(P=10, D=5, width=10, chis=[0.5], methods=("tree",)), "'chis' must be >= 1"),
    (lambda: mc.estimate_sweep(P=10, D=5, width=10, chis=2, methods=("tree",), options={"tree": {"chis": [0.0]}}),
     "'chis' must be >= 1"),
    (lambda: mc.estimate_map(P=10, D=5, spec=mc.NetworkSpec(width=10), widths=["x"]), "'widths' must be an integer"),
    (lambda: mc.estimate_map(P=10, D=5, spec=mc.NetworkSpec(width=10), widths=[0]), "'widths' must be an integer"),
    (lambda: mc.estimate_map(P=10, D=5, spec=mc.NetworkSpec(width=10), chi_fractions=[-1.0]),
     "'chi_fractions' must be >= 0"),
])
def test_estimates_of_sweeps_and_maps_name_a_bad_grid(call, match):
    with pytest.raises(ValueError, match=match):
        call()
