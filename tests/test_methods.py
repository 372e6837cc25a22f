"""The method registry (mastcore/methods.py): a method added by registering one record reaches the sweep, the
budget, the thread policy, the plots, the dashboard's theory list and the Regimes chart."""
from __future__ import annotations

import ast
import importlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

import mastcore as mc
from mastcore import plots, validity
from mastcore._plumbing import threads as _threads
from mastcore._api import solver
from mastcore.methods import METHODS, unregister_method

ROOT = Path(__file__).resolve().parent.parent
#: Two GP predictions through different code paths and kernels that differ by a factor 2 (float64 round-off).
RTOL = 1e-10


@solver("half_nngp")
def half_nngp(X, y, spec, X_test=None):
    """A toy theory: the GP with half the NNGP kernel, C0/2 (docs/theory.md §3 with C0 → C0/2)."""
    t0 = time.perf_counter()
    C = 0.5 * mc.nngp_kernel(X, X, spec)
    K_test = None if X_test is None else 0.5 * mc.nngp_kernel(X_test, X, spec)
    f, f_test = mc.gp_predict(C, y, spec.kappa0, K_test)
    return mc.GPResult(f_train=f, f_test=f_test, C=C, spec=spec, seconds=time.perf_counter() - t0)


def _echo(X, y, spec, X_test=None, *, before=None, scale: float = 1.0):
    """A toy whose result records the warm start it was given (``before``: the previous χ's result)."""
    r = half_nngp(X, y, spec, X_test)
    return mc.GPResult(f_train=scale * r.f_train, f_test=r.f_test, C=r.C, spec=spec, seconds=r.seconds,
                       flags=() if before is None else (f"after_chi_{before.spec.chi:g}",))


@pytest.fixture()
def registered():
    """half_nngp registered (no style, cost or thread model of its own) for one test, removed afterwards."""
    mc.register_method(mc.Method("half_nngp", "half NNGP", half_nngp, chi_independent=True))
    try:
        yield METHODS["half_nngp"]
    finally:
        unregister_method("half_nngp")


@pytest.fixture()
def data():
    X, y = mc.ising(24, 30, 0.1, seed=1)
    X_test, y_test = mc.ising(12, 30, 0.1, seed=2)
    return X, y, X_test, y_test


def test_registered_method_runs_in_the_sweep(registered, data):
    X, y, X_test, y_test = data
    spec = mc.NetworkSpec(width=40, kappa0=0.5)
    res = mc.sweep(X, y, spec, chis=[1, 4, 40], methods=("nngp", "half_nngp"), X_test=X_test, y_test=y_test)
    rows = res.table[res.table["method"] == "half_nngp"]
    assert list(rows["chi"]) == [1.0, 4.0, 40.0]
    # independent reference: (C0/2)(C0/2 + κ0)⁻¹ = C0 (C0 + 2κ0)⁻¹, the NNGP with κ0 doubled
    ref = mc.nngp(X, y, spec.replace(kappa0=2 * spec.kappa0), X_test)
    got = res.at("half_nngp", 4)
    np.testing.assert_allclose(got.f_train, ref.f_train, rtol=RTOL)
    np.testing.assert_allclose(got.f_test, ref.f_test, rtol=RTOL)
    assert not np.allclose(got.f_train, res.at("nngp", 4).f_train)  # a different theory from the NNGP
    # chi_independent: computed once and reused at every χ (only its error band is estimated anew per χ)
    assert res.results["half_nngp"][0].f_train is res.results["half_nngp"][2].f_train
    assert "half_nngp" in mc.METHODS and mc.METHODS["half_nngp"].label == "half NNGP"
    from mastcore.engine import METHODS as sweep_methods, Method  # noqa: PLC0415 (the sweep engine re-exports them)

    assert sweep_methods is mc.METHODS and Method is mc.Method


def test_registered_method_is_priced(registered):
    one = mc.estimate("half_nngp", P=50, D=30, width=40)
    assert one.bytes > 0 and one.seconds > 0 and one.what.startswith("half NNGP (linear, P=50")
    # no cost model of its own: a kernel method's (the NNGP's formulas); χ-independent: priced once in a sweep
    nngp = mc.estimate("nngp", P=50, D=30, width=40, band=False)  # a user's result gets no band companion
    assert (one.bytes, one.seconds) == (nngp.bytes, nngp.seconds)
    sweep = mc.estimate_sweep(P=50, D=30, width=40, chis=[1, 4, 40], methods=("half_nngp",))
    assert sweep.seconds == pytest.approx(one.seconds, rel=1e-12) and "half_nngp" in sweep.what


def test_solver_of_a_registered_method_checks_the_budget(registered, data, monkeypatch):
    X, y, _, _ = data
    monkeypatch.setenv("MASTCORE_MAX_BYTES", "1K")
    with pytest.raises(mc.ResourceError, match="half NNGP"):
        half_nngp(X, y, mc.NetworkSpec(width=20))


def test_generic_loop_applies_the_records_warm_start(data):
    """The sweep passes what the record's warm start builds: here the method's own result at the previous χ."""
    X, y, _, _ = data
    warm = lambda point: {"before": point.previous.get(point.method)}  # noqa: E731
    mc.register_method(mc.Method("echo", "echo", _echo, fixed=("before",), warm_start=warm))
    try:
        assert mc.METHODS["echo"].option_names() == ("scale",)  # the warm-start keyword is not a user option
        res = mc.sweep(X, y, mc.NetworkSpec(width=40), chis=[1, 4, 40], methods=("echo",),
                       options={"echo": {"scale": 2.0}})
        assert [r.flags for r in res.results["echo"]] == [(), ("after_chi_1",), ("after_chi_4",)]
        np.testing.assert_allclose(res.results["echo"][0].f_train,
                                   2.0 * half_nngp(X, y, mc.NetworkSpec(width=40)).f_train, rtol=RTOL)
        with pytest.raises(ValueError, match=r"unknown option\(s\) \['before'\] for method 'echo'"):
            mc.sweep(X, y, mc.NetworkSpec(width=40), chis=[1], methods=("echo",), options={"echo": {"before": 1}})
    finally:
        unregister_method("echo")


def test_linear_only_method_refuses_other_activations(data):
    X, y, _, _ = data
    mc.register_method(mc.Method("half_linear", "half NNGP (linear)", half_nngp, linear_only=True))
    try:
        assert mc.METHODS["half_linear"].activations == ("linear",)
        with pytest.raises(ValueError, match="method 'half_linear' needs activation"):
            mc.sweep(X, y, mc.NetworkSpec(width=40, activation="erf"), chis=[1], methods=("half_linear",))
    finally:
        unregister_method("half_linear")


def test_register_checks_its_input(registered):
    with pytest.raises(ValueError, match="already registered"):
        mc.register_method(mc.Method("half_nngp", "again", half_nngp))
    with pytest.raises(TypeError, match="'method' must be a mastcore.Method"):
        mc.register_method("half_nngp")
    with pytest.raises(ValueError, match="'name' must be"):
        mc.Method("half nngp", "x", half_nngp)
    with pytest.raises(ValueError, match="'style' must be"):
        mc.Method("x", "x", half_nngp, style=("#000000",))
    with pytest.raises(ValueError, match="'before' must name"):
        mc.register_method(mc.Method("x", "x", half_nngp), before="nope")
    with pytest.raises(ValueError, match="'name' must be a registered method"):
        unregister_method("nope")


def test_before_places_a_method_among_the_theories():
    mc.register_method(mc.Method("half_nngp", "half NNGP", half_nngp), before="quadrature")
    try:
        names = list(mc.METHODS)
        assert names.index("renormalised_loop") < names.index("half_nngp") < names.index("quadrature")
    finally:
        unregister_method("half_nngp")
    assert "half_nngp" not in mc.METHODS


def test_dashboard_lists_derive_from_the_registry(registered):
    from mastcore_dashboard import compute  # noqa: PLC0415

    assert compute.theory_methods("linear")[-1] == "half_nngp"
    assert "half_nngp" in compute.theory_methods("erf")
    assert "renormalised_loop" in compute.theory_methods("linear")
    assert "renormalised_loop" not in compute.theory_methods("erf")  # the erf one loop is it already
    assert compute.learning_methods("linear")[-1] == "quadrature"


def test_missing_style_falls_back_to_the_default(registered, data):
    assert registered.style is None
    assert plots.METHOD_STYLE["half_nngp"] == ("half NNGP", *plots.DEFAULT_STYLE[:2])
    assert plots.method_style("half_nngp") == ("half NNGP", *plots.DEFAULT_STYLE)
    X, y, _, _ = data
    res = mc.sweep(X, y, mc.NetworkSpec(width=40), chis=[1, 40], methods=("nngp", "half_nngp"))
    fig = plots.regimes_figure(res.table, "train_mean_y_delta", 4.0)
    line = {t.name: t.line.color for t in fig.data}
    assert line["half NNGP"] == plots.DEFAULT_STYLE[0] and line["NNGP"] == mc.METHODS["nngp"].style[0]


def test_import_never_depends_on_a_style_table(registered):
    """Re-importing the plots with a style-less method registered works (it used to raise KeyError)."""
    importlib.reload(plots)
    assert "half_nngp" in plots.METHOD_STYLE
    assert all(m.style is not None for name, m in mc.METHODS.items() if name != "half_nngp")


def test_thread_policy_reads_the_record(registered):
    # no thread model: one thread whatever the size (unless the user sets a count)
    assert _threads.choose("half_nngp", P=50_000, D=50_000, cores=8, busy=0) == 1
    assert "half_nngp" not in _threads.CROSSOVER
    mc.register_method(mc.Method("half_nngp", "half NNGP", half_nngp,
                                 threads=_threads.ThreadModel(100, _threads.kernel_size)), replace=True)
    assert _threads.CROSSOVER["half_nngp"] == 100
    assert _threads.choose("half_nngp", P=100, D=5, cores=8, busy=0) == 8
    assert _threads.choose("half_nngp", P=99, D=5, cores=8, busy=0) == 1


def test_theory_map_takes_the_records_map_theories():
    mc.register_method(mc.Method("half_nngp", "half NNGP", half_nngp, chi_independent=True,
                                 map_theories=(("half", "half NNGP", {}),)))
    try:
        assert validity.THEORIES["half"] == ("half NNGP", "half_nngp", {})
        assert validity.THEORY_LABELS["half"] == "half NNGP"
        jobs = validity.map_jobs(20, mc.NetworkSpec(width=20), widths=(10,), chi_fractions=(0.0, 1.0))
        assert ("half_nngp", [1.0, 10.0]) in [(m, chis) for _, m, chis, _ in jobs]
    finally:
        unregister_method("half_nngp")
    assert "half" not in validity.THEORIES


def test_sweep_loop_has_no_per_method_branch():
    """mastcore/engine.py compares no method name: what differs between methods is in their records."""
    tree = ast.parse((ROOT / "mastcore" / "engine.py").read_text(encoding="utf-8"))
    names = set(mc.METHODS)
    compared = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for c in (node.left, *node.comparators) if isinstance(c, ast.Constant) and c.value in names]
    assert not compared, compared


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_regimes_chart_draws_a_registered_theory(registered, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    names = [t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "half NNGP" in names and "NNGP" in names
    assert "half NNGP" in [m.label for m in at.metric]
