"""Misuse of the public API: each case a user tried, and the plain error or documented behaviour it gets.

Labels that are not ±1, labels too large for the theories, χ lists that are not lists of numbers, empty or
malformed methods/options, test labels, kernels that are not symmetric, hooks that are not callable, objects of the
wrong type, traces of the wrong shape, task options that cannot be hashed, and the R̂ rule for chains that agree.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mastcore as mc
from mastcore._plumbing.validation import chi_values
from mastcore.data import tasks as tasks_mod

pytestmark = pytest.mark.usefixtures("single_threaded_blas")

SPEC = mc.NetworkSpec(width=50, chi=5.0)


@pytest.fixture(scope="module")
def data():
    X, y = mc.ising(60, 30, 0.1, seed=0)
    return X[:40], y[:40], X[40:], y[40:]


def _sweep(X, y, **kw):
    kw.setdefault("chis", [1.0])
    kw.setdefault("methods", ("nngp",))
    return mc.sweep(X, y, SPEC, **kw)


# --- labels that are not ±1 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("encode, shown", [
    (lambda y: (y > 0).astype(float), "{0, 1}"),
    (lambda y: (y > 0) + 1.0, "{1, 2}"),
    (lambda y: (np.arange(y.size) % 3).astype(float), "{0, 1, 2}"),
])
def test_class_labels_not_pm1_warn_and_have_no_error01(data, encode, shown):
    X, y, _, _ = data
    with pytest.warns(UserWarning, match=r"'y' has the class values " + shown.replace("{", r"\{").replace("}", r"\}")
                      + r", not ±1.*0–1 error.*NaN"):
        table = _sweep(X, encode(y)).table
    assert np.isnan(table["train_error01"]).all()
    assert np.isfinite(table["train_mean_sq_delta"]).all()  # the theories still fit them, as real targets


def test_continuous_labels_are_regression_without_warning(data):
    X, y, _, _ = data
    yr = y * np.linspace(0.5, 1.5, y.size)  # real-valued targets: a regression, valid input
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        table = _sweep(X, yr).table
    assert np.isnan(table["train_error01"]).all()


def test_error01_counts_wrong_signs_for_pm1_labels():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    f = np.array([0.3, 0.2, -0.1, -2.0])  # signs: right, wrong, wrong, right
    assert mc.discrepancies(y, f)["error01"] == 0.5
    assert np.isnan(mc.discrepancies(y + 1.0, f)["error01"])


@pytest.mark.parametrize("scale", [1e6, 1e12])
@pytest.mark.parametrize("solver", [mc.tree_level, mc.one_loop, mc.rescaled_kernel])
def test_huge_labels_named_with_the_reason(data, solver, scale):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=r"'y' is too large for the feature-learning theories.*not linear in y"):
        solver(X, scale * y, SPEC)


def test_large_labels_with_the_documented_rescaling_solve(data):
    # (y, g_v, κ0) → (c·y, c²·g_v, c²·κ0) maps the posterior to itself with f → c·f: the remedy the error names
    X, y, _, _ = data
    c = 1e6
    a = mc.tree_level(X, y, SPEC)
    b = mc.tree_level(X, c * y, SPEC.replace(g_v=c * c * SPEC.g_v, kappa0=c * c * SPEC.kappa0))
    np.testing.assert_allclose(b.f_train / c, a.f_train, rtol=1e-8, atol=1e-10)
    # and labels 10⁴× the output scale still solve (no limit below the documented one)
    assert mc.tree_level(X, 1e4 * y, SPEC).converged
    small = SPEC.replace(g_v=1e-4, g_w=1e-4, kappa0=1e-8)  # ratio 5e7 with ±1 labels: allowed
    assert mc.tree_level(X, y, small).converged


def test_nngp_is_linear_in_y_and_not_limited(data):
    X, y, _, _ = data
    np.testing.assert_allclose(mc.nngp(X, 1e12 * y, SPEC).f_train, 1e12 * mc.nngp(X, y, SPEC).f_train, rtol=1e-10)


# --- chis, methods, options, y_test --------------------------------------------------------------------------------

@pytest.mark.parametrize("chis, match", [
    ("1,2,5", r"'chis' must be a list of numbers >= 1.*got '1,2,5'"),
    (np.ones((2, 2)), r"'chis' must be a 1-D list of numbers"),
    (None, r"'chis' must be a list of numbers >= 1.*got None"),
    ([1, "2"], r"'chis' must be .*got the entry '2' \(str\)"),
    ([True, 2], r"'chis' must be .*got the entry True \(bool\)"),
    ([1 + 1j, 2], r"'chis' must be .*\(complex\)"),
    ([np.complex128(2)], r"'chis' must be .*\(complex128\)"),
    ([], r"'chis' must contain at least one value"),
    ([0.5, 2], r"'chis' must be >= 1"),
    ([1, np.inf], r"'chis' must be finite"),
])
def test_bad_chis_named(data, chis, match):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=match):
        _sweep(X, y, chis=chis)


def test_chis_accepts_numbers_and_numpy_values(data):
    X, y, _, _ = data
    assert _sweep(X, y, chis=2).chis.tolist() == [2.0]
    assert _sweep(X, y, chis=np.array(3.0)).chis.tolist() == [3.0]
    assert _sweep(X, y, chis=np.array([5, 1, 5], dtype=np.int64)).chis.tolist() == [1.0, 5.0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6), st.booleans(),
                          st.text(max_size=3), st.complex_numbers(), st.none()), max_size=6))
def test_chi_values_accepts_exactly_finite_reals_at_least_one(values):
    ok = bool(values) and all(not isinstance(v, bool) and isinstance(v, (int, float)) and np.isfinite(v) and v >= 1
                              for v in values)
    if ok:
        out = chi_values(values)
        assert out.dtype == np.float64 and out.tolist() == sorted(set(float(v) for v in values))
    else:
        with pytest.raises(ValueError, match="'chis'"):
            chi_values(values)


def test_estimate_sweep_and_sweep_agree_on_empty_chis(data):
    X, y, _, _ = data
    with pytest.raises(ValueError) as from_sweep:
        _sweep(X, y, chis=[])
    with pytest.raises(ValueError) as from_estimate:
        mc.estimate_sweep(P=40, D=30, width=50, chis=[], methods=("nngp",))
    assert str(from_sweep.value) == str(from_estimate.value)
    with pytest.raises(ValueError, match="'chis' must be an integer >= 1"):
        mc.estimate_sweep(P=40, D=30, width=50, chis=0, methods=("nngp",))
    with pytest.raises(ValueError, match="'methods' must name at least one"):
        mc.estimate_sweep(P=40, D=30, width=50, chis=[1], methods=())


def test_chi_too_large_for_the_labels_names_chis(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=r"'chis' is too large: chi = 1e\+308"):
        _sweep(X, y, chis=[1, 1e308])


@pytest.mark.parametrize("methods, match", [
    ((), "'methods' must name at least one method"),
    ([], "'methods' must name at least one method"),
    (None, "'methods' must be a list of names"),
    (("nngp", 3), "'methods' entries must be among"),
    ("trees", "'methods' entries must be among"),
])
def test_bad_methods_named(data, methods, match):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=match):
        _sweep(X, y, methods=methods)


@pytest.mark.parametrize("options, match", [
    ({"exact": 5}, r"'options' entry for method 'exact' must be a dict of keyword options.*got 5"),
    ({"exact": ["n_chains"]}, r"'options' entry for method 'exact' must be a dict"),
    ({"exact": {1: 2}}, r"'options' entry for method 'exact' must have option names"),
    ([("exact", {})], r"'options' must be a dict"),
    ({"tree": {}}, r"'options' names methods that are not run"),
])
def test_bad_options_named(data, options, match):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=match):
        _sweep(X, y, methods=("exact",), options=options)


def test_bad_y_test_is_blamed_on_y_test(data):
    X, y, Xs, ys = data
    with pytest.raises(ValueError, match=r"'y_test' must have length 20 \(one label per row of X_test\)"):
        _sweep(X, y, X_test=Xs, y_test=ys[:5])
    with pytest.raises(ValueError, match=r"'y_test' must be finite"):
        _sweep(X, y, X_test=Xs, y_test=np.full(20, np.nan))
    with pytest.raises(ValueError, match=r"'y_test' needs 'X_test'"):
        _sweep(X, y, y_test=ys)


# --- gp_predict ---------------------------------------------------------------------------------------------------

def test_gp_predict_validates_its_kernel():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    K = A @ A.T
    y = rng.standard_normal(6)
    f, _ = mc.gp_predict(K, y, 0.5)
    np.testing.assert_allclose(f, K @ np.linalg.solve(K + 0.5 * np.eye(6), y), rtol=1e-10)  # independent solve
    bad = K.copy()
    bad[0, 1] += 1.0
    with pytest.raises(ValueError, match=r"'K' must be symmetric"):
        mc.gp_predict(bad, y, 0.5)
    with pytest.raises(ValueError, match=r"'K' must be a square"):
        mc.gp_predict(K[:, :5], y, 0.5)
    with pytest.raises(ValueError, match=r"'y' must have length 6 \(one label per row of K\)"):
        mc.gp_predict(K, y[:5], 0.5)
    with pytest.raises(ValueError, match=r"'kappa0' must be > 0"):
        mc.gp_predict(K, y, -1.0)
    with pytest.raises(ValueError, match=r"'K_test' must have P = 6 columns"):
        mc.gp_predict(K, y, 0.5, K_test=np.ones((3, 4)))
    # rounding-level asymmetry is accepted
    mc.gp_predict(K + 1e-13 * np.triu(np.ones((6, 6)), 1), y, 0.5)


# --- hooks, wrong objects, traces -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda X, y: _sweep(X, y, progress=3),
    lambda X, y: mc.tree_level(X, y, SPEC, progress="bar"),
    lambda X, y: mc.exact_posterior(X, y, SPEC, n_chains=2, n_sweeps=10, burn_in=2, progress=1),
    lambda X, y: mc.train_langevin(X, y, SPEC, options=mc.LangevinOptions(ensemble=2, steps=20, burn_in=2),
                                   progress=3),
])
def test_non_callable_progress_refused_up_front(data, call):
    X, y, _, _ = data
    with pytest.raises(TypeError, match=r"'progress' must be a callable or None"):
        call(X, y)


def test_non_callable_cancel_refused_up_front(data):
    X, y, _, _ = data
    with pytest.raises(TypeError, match=r"'cancel' must be a callable or None"):
        mc.theory_map(X, y, SPEC, widths=[10], cancel=True, cache=False)
    with pytest.raises(TypeError, match=r"'progress' must be a callable or None"):
        mc.theory_map(X, y, SPEC, widths=[10], progress=0, cache=False)


def test_wrong_objects_named():
    with pytest.raises(ValueError, match=r"'spec' must be a mastcore.TaskSpec \(e.g. mc.TaskSpec\(name='ising'"):
        mc.estimate_task("ising")
    with pytest.raises(ValueError, match=r"'result' must be a result of a mastcore solver"):
        mc.summarize(None, np.ones(3))


def test_split_rhat_of_one_chain_is_an_error_not_nan():
    with pytest.raises(ValueError, match=r"'chains' must be a 2-D array \(n_chains, n_samples\)"):
        mc.split_rhat(np.arange(10.0))


# --- task options -----------------------------------------------------------------------------------------------

def test_list_valued_task_option_refused_naming_it():
    name = "misuse_no_options"
    tasks_mod.register_task(name, lambda spec: None)  # declares no options: the builder would check them
    try:
        with pytest.raises(ValueError, match=r"option 'classes' of 'options' must be a plain hashable value.*"
                                             r"use the tuple \(1, 2\)"):
            mc.TaskSpec(name=name, options=(("classes", [1, 2]),))
        spec = mc.TaskSpec(name=name, options=(("classes", (1, 2)),))
        hash(spec)  # the cache keys on it
    finally:
        tasks_mod._BUILDERS.pop(name, None)
        tasks_mod._OPTIONS.pop(name, None)


# --- R̂ of chains that agree -----------------------------------------------------------------------------------

def test_chains_agree_is_measured_against_the_scale():
    rng = np.random.default_rng(0)
    # agreeing to 1e-8 of a scale of 1: R̂ of such traces can be anything, the chains still agree
    tiny = 1e-8 * (rng.standard_normal((8, 1)) + 0.1 * rng.standard_normal((8, 40)))
    assert mc.split_rhat(tiny, scale=1.0) > 2.0
    assert mc.metrics.chains_agree(tiny, 1.0)
    # the same traces at their own scale (1e-8) disagree
    assert not mc.metrics.chains_agree(tiny, 1e-8)
    assert not mc.metrics.chains_agree(np.full((2, 4), np.nan), 1.0)


LANGEVIN_FAST = dict(ensemble=8, steps=3000, burn_in=300, seed=0)
#: Langevin at κ0 = 1e-8 against the quadrature: a run agreeing to 1e-7 on mean(y·Δ) was flagged, with room.
KAPPA_SMALL_ATOL = 1e-6


def test_langevin_at_tiny_kappa0_that_agrees_is_converged(data):
    X, y, _, _ = data
    spec = mc.NetworkSpec(width=50, chi=1.0, kappa0=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mc.ConvergenceWarning)
        r = mc.train_langevin(X, y, spec, options=mc.LangevinOptions(**LANGEVIN_FAST))
    q = mc.posterior_quadrature(X, y, spec)  # independent: deterministic quadrature of the same posterior
    assert abs(mc.discrepancies(y, r.f_train)["mean_y_delta"] - mc.discrepancies(y, q.f_train)["mean_y_delta"]) \
        < KAPPA_SMALL_ATOL
    assert r.r_hat > 1.1  # R̂ alone would have flagged it
    assert r.converged


def test_langevin_truly_unconverged_is_still_flagged(data):
    X, y, _, _ = data
    spec = mc.NetworkSpec(width=50, chi=1.0, kappa0=1e-2)
    with pytest.warns(mc.ConvergenceWarning, match="not equilibrated"):
        r = mc.train_langevin(X, y, spec, options=mc.LangevinOptions(ensemble=8, steps=200, burn_in=1, dt=1e-4,
                                                                     seed=0))
    assert not r.converged


# --- the dashboard's Data page ------------------------------------------------------------------------------------

def _data_page(monkeypatch, tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/data.py").run()
    return at


def test_data_page_parses_an_upload_once_and_names_bad_labels(monkeypatch, tmp_path):
    calls = []
    real = mc.load_csv
    monkeypatch.setattr(mc, "load_csv", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = _data_page(monkeypatch, tmp_path)
    content = ("a,b,label\n" + "\n".join(f"{i % 3},{(i * 7) % 5},{i % 2}" for i in range(30)) + "\n").encode()
    at.file_uploader(key="data.upload").upload("labels01.csv", content, "text/csv").run()
    assert not at.exception and at.success
    assert len(calls) == 1
    assert any("class values {0, 1}, not ±1" in w.value for w in at.warning)
    at.run()  # a rerun (any widget change) reuses the parse
    at.run()
    assert len(calls) == 1
    at.file_uploader(key="data.upload").upload("other.csv", content + b"1,1,1\n", "text/csv").run()
    assert len(calls) == 2  # a new upload is parsed


def test_data_page_refuses_too_many_columns_from_the_header(monkeypatch, tmp_path):
    from mastcore_dashboard.state import MAX_UPLOAD_COLUMNS

    at = _data_page(monkeypatch, tmp_path)
    n = MAX_UPLOAD_COLUMNS + 1
    content = (",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" for _ in range(n)) + "\n").encode()
    at.file_uploader(key="data.upload").upload("wide.csv", content, "text/csv").run()
    assert not at.exception
    assert at.error and "cannot be used" in at.error[0].value and f"at most {MAX_UPLOAD_COLUMNS:,} are read" in \
        at.error[0].value


def test_data_page_reads_a_utf16_upload(monkeypatch, tmp_path):
    at = _data_page(monkeypatch, tmp_path)
    content = ("alpha,beta,label\n" + "\n".join(f"{i % 3},{(i * 7) % 5},{1 if i % 2 else -1}" for i in range(30))
               + "\n").encode("utf-16")  # Excel's "Unicode text": a BOM and two bytes per character
    at.file_uploader(key="data.upload").upload("u16.csv", content, "text/csv").run()
    assert not at.exception and not at.error
    assert "`alpha`" in at.success[0].value and not at.warning


def test_learning_curves_explain_a_missing_error01(monkeypatch, tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=240)
    at.query_params = {"task": "teacher_student", "P": "10", "Ptest": "30", "D": "20", "lcP": "5,10",
                       "lcobs": "error01"}  # real-valued teacher labels: no 0–1 error
    at.run()
    at.switch_page("pages/learning_curves.py").run()
    assert not at.exception
    assert any("defined for ±1 labels only" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_upload_limit_agrees_with_the_app_data_limit():
    import tomllib
    from pathlib import Path

    from mastcore_dashboard.state import MAX_TASK_BYTES, MAX_UPLOAD_MB

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    # a cell takes ≥ 2 bytes of text and 8 parsed: the largest upload parses to at most the app's data limit
    assert MAX_UPLOAD_MB * 10**6 / 2 * 8 <= MAX_TASK_BYTES


# --- the disk cache is full ----------------------------------------------------------------------------------------

def test_reference_run_says_when_it_was_not_stored(tmp_path, monkeypatch):
    import errno

    from mastcore_dashboard import compute
    from mastcore_dashboard.state import Settings
    from mastcore._plumbing import cache

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings(P=12, P_test=40, D=20, width=30)
    task = compute.build_task(settings)
    options = dict(n_chains=4, n_sweeps=40, burn_in=5)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(cache, "_write", full)
        _, row, messages = compute.reference_run(task, settings, 5.0, "exact", options)
    assert row["stored"] is False
    assert any(msg.startswith("not stored on disk:") and "No space left" in msg for msg in messages)
    assert compute.runs(task, settings).empty  # indeed nothing was stored
    _, row, messages = compute.reference_run(task, settings, 5.0, "exact", options)  # disk has room again
    assert row["stored"] is True and not any("not stored" in msg for msg in messages)
    assert len(compute.runs(task, settings)) == 1
