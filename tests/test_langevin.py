"""Tests of mastcore/langevin.py: physics (equipartition, the exact sampler), estimators, options, determinism."""
import warnings

import numpy as np
import pytest

import mastcore as mc
from mastcore.metrics import split_rhat
from mastcore.posterior.langevin import LangevinOptions, resolve_device, train_langevin

#: Equipartition: relative tolerance on the time-averaged mean squared weights. The Monte-Carlo error of these
#: averages (hundreds of parameters × thousands of records, autocorrelation time 1/2) is ≈ 0.3 %.
EQUIPARTITION_RTOL = 0.02
#: Agreement with the exact sampler in combined standard errors (4σ: a false alarm rate ~1e-4 per comparison).
Z_TOL = 4.0
#: Identities that hold exactly by construction (round-off only).
EXACT_RTOL = 1e-10
#: An (essentially) infinite κ0 switches the data term off: χ/κ0 ~ 1e-12.
NO_DATA_KAPPA0 = 1e12


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ConvergenceWarning)
        warnings.simplefilter("ignore", mc.ScaleWarning)
        return fn(*a, **k)


@pytest.mark.parametrize(
    "activation, fast", [("linear", True), ("linear", False), ("erf", False), ("relu", False)]
)
def test_equipartition_without_data(activation, fast):
    """No data term: every weight equilibrates to its prior variance g_v/D, g_w/(χN) (LM is exact for a Gaussian)."""
    X, y = mc.ising(6, 9, 0.2, seed=1)
    spec = mc.NetworkSpec(width=12, chi=3.0, kappa0=NO_DATA_KAPPA0, activation=activation)
    opts = LangevinOptions(ensemble=8, steps=2500, burn_in=100, dt=0.5, thin=4, fast_linear=fast, device="cpu")
    r = _quiet(train_langevin, X, y, spec, options=opts)
    assert r.v_var / r.v_prior == pytest.approx(1.0, rel=EQUIPARTITION_RTOL)
    assert r.w_var / r.w_prior == pytest.approx(1.0, rel=EQUIPARTITION_RTOL)


def test_euler_temperature_bias_is_detected():
    """Euler–Maruyama on the same Gaussian has stationary variance 1/(1 − h/2) (h = 0.5: 4/3): the equipartition
    measurement is sharp enough to see an integrator's O(h) bias."""
    X, y = mc.ising(6, 9, 0.2, seed=1)
    spec = mc.NetworkSpec(width=12, chi=3.0, kappa0=NO_DATA_KAPPA0)
    h = 0.5
    opts = LangevinOptions(ensemble=8, steps=2500, burn_in=100, dt=h, thin=4, integrator="euler", device="cpu")
    r = _quiet(train_langevin, X, y, spec, options=opts)
    assert r.w_var / r.w_prior == pytest.approx(1.0 / (1.0 - h / 2), rel=EQUIPARTITION_RTOL)
    assert r.v_var / r.v_prior == pytest.approx(1.0 / (1.0 - h / 2), rel=EQUIPARTITION_RTOL)


def _tiny():
    # D > P, so the row-space reduction drops components (X has rank P < D)
    X, y = mc.ising(8, 12, 0.2, seed=5)
    Xs, _ = mc.ising(10, 12, 0.2, seed=6)
    return X, y, Xs


@pytest.mark.parametrize("chi, fast", [(1.0, True), (8.0, True), (8.0, False)])
def test_stationary_mean_matches_exact_sampler(chi, fast):
    """Tiny linear problem: the Rao–Blackwellised ⟨f⟩ agrees with the exact (Gibbs) posterior on train and test."""
    X, y, Xs = _tiny()
    spec = mc.NetworkSpec(width=8, chi=chi, kappa0=0.5)
    ex = mc.exact_posterior(X, y, spec, Xs, n_chains=32, n_sweeps=1500, burn_in=150, seed=1)
    opts = LangevinOptions(ensemble=16, steps=6000, burn_in=600, fast_linear=fast, device="cpu", seed=2)
    r = _quiet(train_langevin, X, y, spec, Xs, options=opts)
    w = -y / y.size
    z = (r.f_train @ w - ex.f_train @ w) / np.hypot(r.se_of(w), ex.se_of(w))
    assert abs(z) < Z_TOL, f"train mean(y·Δ): z = {z:.2f}"
    # per point: compare with a Bonferroni-free but looser bound (P points)
    zp = (r.f_train - ex.f_train) / np.hypot(r.se_train, ex.se_train)
    assert np.max(np.abs(zp)) < Z_TOL + 1.0
    # test set: the exact sampler's f_test is X* X⁺ f_train
    wt = np.ones(Xs.shape[0]) / Xs.shape[0]
    zt = (r.f_test @ wt - ex.f_test @ wt) / np.hypot(r.se_of(wt, "test"), 3 * np.max(ex.se_test))
    assert abs(zt) < Z_TOL
    assert r.converged and r.r_hat < 1.1


def test_linear_test_predictions_are_row_space_extensions():
    """Linear net: f_test = X* X⁺ f_train exactly (docs/theory.md §2), for the RB and the raw estimates."""
    X, y, Xs = _tiny()
    spec = mc.NetworkSpec(width=8, chi=2.0, kappa0=0.5)
    r = _quiet(train_langevin, X, y, spec, Xs, options=LangevinOptions(ensemble=4, steps=300, burn_in=50))
    P = np.linalg.pinv(X)
    np.testing.assert_allclose(r.f_test, Xs @ P @ r.f_train, rtol=EXACT_RTOL, atol=EXACT_RTOL)
    np.testing.assert_allclose(r.f_test_raw, Xs @ P @ r.f_train_raw, rtol=EXACT_RTOL, atol=EXACT_RTOL)


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_nonlinear_rb_and_raw_estimates_agree(activation):
    """erf/ReLU (generic path): the Rao–Blackwellised and the raw averages estimate the same ⟨f⟩; at χ = 1 and
    N ≫ P both are close to the NNGP predictor (finite-N shift O(P/N) ≲ 0.03 here)."""
    X, y = mc.ising(5, 8, 0.2, seed=2)
    Xs, _ = mc.ising(7, 8, 0.2, seed=3)
    spec = mc.NetworkSpec(width=100, chi=1.0, activation=activation)
    r = _quiet(train_langevin, X, y, spec, Xs, options=LangevinOptions(ensemble=8, steps=1500, burn_in=150))
    w = -y / y.size
    z = (r.f_train @ w - r.f_train_raw @ w) / np.hypot(r.se_of(w), float(np.abs(w) @ r.se_train_raw))
    assert abs(z) < Z_TOL
    assert r.f_test.shape == (7,) and np.all(np.isfinite(r.f_test)) and np.all(np.isfinite(r.f_test_raw))
    gp = mc.nngp(X, y, spec, X_test=Xs)
    assert abs(r.f_train @ w - gp.f_train @ w) < 0.03


def test_deterministic_from_seed():
    X, y, Xs = _tiny()
    spec = mc.NetworkSpec(width=8, chi=2.0, kappa0=0.5)
    opts = LangevinOptions(ensemble=4, steps=200, burn_in=20, device="cpu")
    a = _quiet(train_langevin, X, y, spec, Xs, options=opts)
    b = _quiet(train_langevin, X, y, spec, Xs, options=opts)
    c = _quiet(train_langevin, X, y, spec, Xs, options=opts.replace(seed=1))
    np.testing.assert_array_equal(a.f_train, b.f_train)
    np.testing.assert_array_equal(a.trace.values["loss"], b.trace.values["loss"])
    assert not np.array_equal(a.f_train, c.f_train)


def test_result_fields_and_progress():
    X, y, Xs = _tiny()
    spec = mc.NetworkSpec(width=8, chi=2.0, kappa0=0.5)
    calls = []
    opts = LangevinOptions(ensemble=4, steps=400, burn_in=100, thin=10, device="cpu")
    r = _quiet(train_langevin, X, y, spec, Xs, options=opts, progress=lambda d, t, i: calls.append((d, t, i)))
    assert calls[-1][:2] == (400, 400) and calls[0][2]["stage"] == "burn-in"
    assert r.trace.values["loss"].shape == r.trace.values["mean_y_delta"].shape == (40, 4)
    assert r.trace.steps[0] == 10 and r.trace.steps[-1] == 400
    assert r.chain_f_train.shape == (4, 8) and r.chain_f_test.shape == (4, 10)
    assert r.se_train.shape == (8,) and r.se_test.shape == (10,)
    assert r.device == "cpu" and r.steps_per_second > 0 and r.n_iter == 400
    assert r.residual == pytest.approx(r.r_hat - 1.0)


def test_float32_runs():
    X, y, Xs = _tiny()
    spec = mc.NetworkSpec(width=8, chi=2.0, kappa0=0.5, activation="erf")
    r = _quiet(train_langevin, X, y, spec, Xs, options=LangevinOptions(ensemble=4, steps=200, burn_in=20,
                                                                        dtype="float32"))
    assert r.f_train.dtype == np.float64 and np.all(np.isfinite(r.f_train))


def test_chunks_through_joblib_threading():
    import joblib

    X, y, Xs = _tiny()
    spec = mc.NetworkSpec(width=8, chi=2.0, kappa0=0.5)
    with joblib.parallel_config(backend="threading"):
        r = _quiet(train_langevin, X, y, spec, Xs, options=LangevinOptions(ensemble=6, steps=200, burn_in=20,
                                                                            chunks=2))
    assert r.chain_f_train.shape == (6, 8) and r.trace.values["loss"].shape[1] == 6


def test_divergence_is_reported():
    X, y, _ = _tiny()
    spec = mc.NetworkSpec(width=8, chi=8.0, kappa0=0.5)
    with pytest.raises(FloatingPointError, match="dt"):
        _quiet(train_langevin, X, y, spec, options=LangevinOptions(ensemble=2, steps=2000, burn_in=10, dt=50.0))


def test_unequilibrated_run_warns():
    X, y, _ = _tiny()
    spec = mc.NetworkSpec(width=8, chi=8.0, kappa0=0.5)
    with pytest.warns(mc.ConvergenceWarning, match="R̂"):
        train_langevin(X, y, spec, options=LangevinOptions(ensemble=4, steps=60, burn_in=1, dt=1e-4, thin=1))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(ensemble=1), "ensemble"),
        (dict(steps=10, burn_in=10), "burn_in"),
        (dict(dt=-1.0), "dt"),
        (dict(dtype="float16"), "dtype"),
        (dict(integrator="rk4"), "integrator"),
        (dict(device="tpu"), "device"),
        (dict(ensemble=4, chunks=3), "chunks"),
        (dict(thin=0), "thin"),
        (dict(fast_linear="yes"), "fast_linear"),
    ],
)
def test_options_are_validated(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        LangevinOptions(**kwargs)


def test_bad_arguments():
    X, y, _ = _tiny()
    with pytest.raises(ValueError, match="'spec'"):
        train_langevin(X, y, {"width": 8})
    with pytest.raises(ValueError, match="'options'"):
        train_langevin(X, y, mc.NetworkSpec(width=8), options={"steps": 10})
    with pytest.raises(ValueError, match="'y'"):
        train_langevin(X, y[:-1], mc.NetworkSpec(width=8))


def test_device_resolution():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'device'"):
            resolve_device("cuda")


def test_split_rhat():
    rng = np.random.default_rng(0)
    assert split_rhat(rng.standard_normal((8, 500))) == pytest.approx(1.0, abs=0.02)
    drifting = rng.standard_normal((8, 500)) + np.linspace(0, 3, 500)
    assert split_rhat(drifting) > 1.1


# --- automatic step for χ > N, constant traces, the noise stream ----------------------------------------------------

@pytest.mark.parametrize("activation", ["linear", "erf", "relu"])
@pytest.mark.parametrize("ratio", [10.0, 1000.0])
def test_automatic_step_is_stable_far_above_mean_field(activation, ratio):
    """χ = 10 N and 1000 N (the readout grows like √χ within a few steps, docs/theory.md §13.3): the automatic step
    runs without divergence or restart and scales like N/χ."""
    X, y = mc.ising(20, 30, 0.1, seed=0)
    spec = _quiet(mc.NetworkSpec, width=10, chi=10 * ratio, activation=activation)
    r = _quiet(train_langevin, X, y, spec, options=LangevinOptions(ensemble=4, steps=600, burn_in=150, device="cpu"))
    assert np.all(np.isfinite(r.f_train)) and "dt_restarted" not in r.flags
    assert r.dt < 5.0 / ratio  # the hidden block's curvature grows like χ/N


def test_far_above_mean_field_matches_the_exact_mean():
    """Linear network at χ = 10 N: the Rao–Blackwellised mean agrees with the exact posterior mean (quadrature)
    within Z_TOL standard errors, and the run is equilibrated."""
    X, y, Xs = _tiny()
    spec = _quiet(mc.NetworkSpec, width=8, chi=80.0, kappa0=0.5)
    exact = _quiet(mc.posterior_quadrature, X, y, spec)
    r = _quiet(train_langevin, X, y, spec, options=LangevinOptions(ensemble=16, steps=12000, burn_in=2000, seed=3))
    assert r.converged
    w = -y / y.size
    z = (r.f_train @ w - exact.f_train @ w) / r.se_of(w)
    assert abs(z) < Z_TOL, f"mean(y·Δ): z = {z:.2f}"


def test_automatic_step_restarts_instead_of_asking_for_dt(monkeypatch):
    """A bound made 16× too optimistic diverges; the run restarts with 4× smaller steps (flag, warning), and when
    restarts are exhausted the error names the automatic step, not a 'dt' the user never set."""
    import mastcore.posterior.langevin as lv

    X, y, _ = _tiny()
    spec = mc.NetworkSpec(width=8, chi=8.0, kappa0=0.5)
    opts = LangevinOptions(ensemble=4, steps=400, burn_in=100, device="cpu")
    monkeypatch.setattr(lv, "DT_SAFETY", 8.0)  # h·λ̂ = 8 > 2: unstable
    with pytest.warns(mc.ConvergenceWarning, match="restart"):
        r = train_langevin(X, y, spec, options=opts)
    assert "dt_restarted" in r.flags and np.all(np.isfinite(r.f_train))
    monkeypatch.setattr(lv, "MAX_RESTARTS", 0)
    with pytest.raises(FloatingPointError, match="automatic step") as err:
        _quiet(train_langevin, X, y, spec, options=opts)
    assert "reduce 'dt'" not in str(err.value)


def test_constant_traces_count_as_converged():
    """κ0 = 1e-8, g = 1e6 (erf): the networks interpolate and mean(y·Δ) is constant to rounding; R̂ = 1, converged,
    with enough records for split-R̂ however small the automatic step."""
    X, y = mc.ising(20, 30, 0.1, seed=0)
    spec = mc.NetworkSpec(width=10, chi=1.0, kappa0=1e-8, g_v=1e6, g_w=1e6, activation="erf")
    with warnings.catch_warnings():
        warnings.simplefilter("error", mc.ConvergenceWarning)
        r = _quiet(train_langevin, X, y, spec, options=LangevinOptions(ensemble=4, steps=2000, burn_in=200))
    assert r.converged and r.r_hat == 1.0 and r.residual == 0.0
    assert r.trace.kept().shape[1] >= 20
    assert np.all(np.abs(r.trace.kept()) < 1e-10)


def test_noise_stream_is_the_same_drawn_ahead_or_not():
    """The Gaussians drawn on a thread of their own (noise ahead, switched on and off by the tuner) are the ones
    drawn in line: the run is bit-identical."""
    X, y = mc.ising(10, 130, 0.1, seed=1)
    spec = mc.NetworkSpec(width=200, chi=2.0, activation="erf")
    opts = LangevinOptions(ensemble=4, steps=120, burn_in=20, thin=10, dtype="float32", device="cpu", seed=5)
    assert mc._plumbing.threads.noise_draws(P=10, D=130, width=200, activation="erf",
                                   options={"options": opts}) >= mc._plumbing.threads.NOISE_AHEAD_MIN_DRAWS
    with mc.threads(1):  # no spare core: drawn in line
        inline = _quiet(train_langevin, X, y, spec, options=opts)
    with mc.threads(2):  # a spare core: the tuner probes both modes
        ahead = _quiet(train_langevin, X, y, spec, options=opts)
    np.testing.assert_array_equal(inline.f_train, ahead.f_train)
    np.testing.assert_array_equal(inline.trace.values["loss"], ahead.trace.values["loss"])
