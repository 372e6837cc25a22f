"""Trained networks: ensembles of two-layer networks trained with Langevin dynamics (docs/theory.md §13).

The stationary law of the dynamics is the posterior of docs/theory.md §1 with potential

    U(V, w) = (χ/(2κ0)) ‖y − f(X)‖² + (D/(2 g_v)) ‖V‖² + (χN/(2 g_w)) ‖w‖²,   f(x) = Σ_i w_i φ(v_i·x).

Preconditioning
    The dynamics runs in whitened coordinates Ṽ = V/σ_v, w̃ = w/σ_w (σ_v² = g_v/D, σ_w² = g_w/(χN)), i.e. with
    the constant mass matrix diag(prior variances): dθ = −M∇U dt + √(2M) dB. The prior is then ½‖θ̃‖² and the
    Gauss–Newton curvature of the data term on the readout is K_V/κ0 with K_V = (g_w/N) φ(XVᵀ)φ(XVᵀ)ᵀ, which does
    not depend on χ: one step size serves all χ.
Integrator ("lm", default)
    Leimkuhler–Matthews, the overdamped limit of BAOAB:
        θ̃_{n+1} = θ̃_n − h ∇Ũ(θ̃_n) + √(h/2) (ξ_n + ξ_{n+1}),   ξ_n ~ N(0, I) i.i.d.
    One force evaluation and one fresh Gaussian per parameter per step, like Euler–Maruyama, but its invariant
    law is exact for Gaussian targets (for U = λθ²/2 the stationary variance is 1/λ for every stable h, h < 2/λ)
    and the bias of configurational averages is O(h²) in general (Leimkuhler & Matthews 2013, AMRX) instead of
    Euler–Maruyama's O(h) ("euler": θ̃ ← θ̃ − h∇Ũ + √(2h) ξ, stationary variance 1/(λ(1 − λh/2)) for the same
    Gaussian). Given V the posterior of w is Gaussian, so the readout block — the stiff one — carries no step-size
    bias at all; what remains comes from the V–w coupling and is measured by the dt-halving bench
    (bench/langevin_vs_exact.py) to be below the reported standard error on the Fig.-2 setting.
Step size
    ``dt=None`` (default): h = DT_SAFETY / λ̂, λ̂ a bound on the largest curvature of Ũ in whitened coordinates
    (docs/theory.md §13.3): prior, Gauss–Newton readout λ_max(K_V)/κ0 and hidden block (with the readout weights
    it is about to reach, their conditional mean given V: at χ ≫ N they grow like √χ within a few steps), plus
    the residual (non-Gauss–Newton) term, which grows like √(χ/N) while the network does not fit yet. Re-estimated
    at every record during burn-in (features grow as χ → N) and frozen afterwards; a run that still diverges
    restarts from its initial state with a 4× smaller step (at most MAX_RESTARTS times).
Noise
    The Gaussians of a step (E·N·(K + 1) of them) are drawn in one bulk float32 call into reused buffers; when the
    thread policy (:mod:`mastcore._plumbing.threads`) leaves a core for it, the trainer times drawing the next step's noise
    on a thread of its own (while the current step computes its force) against drawing it in line, and keeps the
    faster. One generator, one draw per step, in step order: the stream, and so the result, is the same either way.
Linear networks
    f = X(Vᵀw) and only Z = V W (W: orthonormal basis of the row space of X, rank r ≤ min(P, D)) couples to the
    data; the components of V orthogonal to the row space follow an independent prior Ornstein–Uhlenbeck process,
    so they are integrated out exactly. A step then costs O(N r) (≤ O((N + P) D)) instead of O(P D N); test
    predictions are X* X⁺ f(X), the conditional mean over those components (docs/theory.md §2).
Estimators
    ``f_train``/``f_test`` are Rao–Blackwellised: the time and ensemble average of E[f | V] = K_V (K_V + κ0)⁻¹ y
    (f is linear in w, any activation) and K_V(X*, X)(K_V + κ0)⁻¹ y; the plain average of the network outputs is
    ``f_train_raw``/``f_test_raw``. Standard errors come from the spread of the ensemble members' time averages.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._plumbing import threads as _threads
from .._api import solver
from ..activations import get_activation
from .._linalg import row_space
from .._plumbing.validation import check_data, positive_float, positive_int
from .._plumbing.warn import warn
from ..metrics import CONSTANT_RTOL, chain_se, chains_agree, split_rhat
from ..results import SampledResult, Trace
from ..specs import ConvergenceWarning, NetworkSpec
from ..theory.kernels.nngp import train_kernel_eigh

__all__ = ["LangevinOptions", "LangevinResult", "train_langevin"]

#: Step size as a fraction of the stability limit 2/λ̂ is 2·DT_SAFETY⁻¹… i.e. h·λ̂ = DT_SAFETY (LM is stable for
#: h·λ < 2; 0.5 keeps the O(h²) configurational bias below the Fig.-2 standard error, see the module docstring).
DT_SAFETY = 0.5
#: Records are taken about every RECORD_TIME units of (whitened) time when ``thin`` is None; the slowest prior
#: mode relaxes in one unit, so consecutive records are strongly correlated but cheap compared with the steps.
RECORD_TIME = 0.25
#: Split-R̂ above this flags a run as not equilibrated (Gelman et al. 2013 recommend 1.01–1.1; 16 members).
RHAT_MAX = 1.1
#: A run whose automatic step still diverges during burn-in restarts with a 4× smaller step at most this often.
MAX_RESTARTS = 3
#: Post-burn-in records at least (``thin`` is capped so that split-R̂ has traces to work on).
MIN_RECORDS = 20
#: A post-burn-in trace of mean(y·Δ) whose whole spread is below CONSTANT_TRACE_ULPS rounding units of its scale
#: mean(y²) is constant to the working precision (e.g. κ0 → 0: the networks interpolate): R̂ = 1, converged.
CONSTANT_TRACE_ULPS = 64
INTEGRATORS = ("lm", "euler")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class LangevinOptions:
    """Options of :func:`train_langevin` (validated on construction).

    ensemble : independent networks advanced together (>= 2; error bars come from their spread).
    dt : step size in whitened time, or None for the automatic choice (module docstring).
    steps : total steps per network, burn-in included; burn_in : steps discarded (0 <= burn_in < steps).
    thin : record every ``thin`` steps (None: about every RECORD_TIME time units).
    device : "auto" (CUDA when available), "cpu", "cuda" or "cuda:K". seed : seed of the torch.Generator.
    dtype : "float64" (theory comparisons) or "float32" (speed). integrator : "lm" or "euler".
    fast_linear : use the row-space path for linear networks (exact; False runs the generic O(P D N) step).
    chunks : split the ensemble into this many independently seeded chunks, run through joblib (so a
        ``joblib.parallel_config`` backend — loky, dask, ray — spreads them); 1 = one batched computation.
    threads : CPU threads while training (restored afterwards), as with ``mc.threads(threads)``; None: the thread
        policy of :mod:`mastcore._plumbing.threads` (one thread for small steps, a spare core for the noise).
    """

    ensemble: int = 16
    dt: float | None = None
    steps: int = 20000
    burn_in: int = 2000
    thin: int | None = None
    device: str = "auto"
    seed: int = 0
    dtype: str = "float64"
    integrator: str = "lm"
    fast_linear: bool = True
    chunks: int = 1
    threads: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "ensemble", positive_int("ensemble", self.ensemble, minimum=2))
        if self.dt is not None:
            object.__setattr__(self, "dt", positive_float("dt", self.dt))
        steps = positive_int("steps", self.steps)
        burn_in = positive_int("burn_in", self.burn_in, minimum=0)
        if burn_in >= steps:
            raise ValueError(f"'burn_in' must be smaller than 'steps' ({steps}); got {burn_in}")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "burn_in", burn_in)
        if self.thin is not None:
            object.__setattr__(self, "thin", positive_int("thin", self.thin))
        object.__setattr__(self, "seed", positive_int("seed", self.seed, minimum=0))
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")
        ):
            raise ValueError(f"'device' must be 'auto', 'cpu', 'cuda' or 'cuda:K'; got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"'dtype' must be one of {DTYPES}; got {self.dtype!r}")
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"'integrator' must be one of {INTEGRATORS}; got {self.integrator!r}")
        if not isinstance(self.fast_linear, bool):
            raise ValueError(f"'fast_linear' must be True or False; got {self.fast_linear!r}")
        chunks = positive_int("chunks", self.chunks)
        if chunks > 1 and chunks > self.ensemble // 2:
            raise ValueError(
                    f"'chunks' must leave at least 2 networks per chunk (<= ensemble/2 = {self.ensemble // 2}); "
                    f"got {chunks}"
                )
        object.__setattr__(self, "chunks", chunks)
        if self.threads is not None:
            object.__setattr__(self, "threads", positive_int("threads", self.threads))

    def replace(self, **changes) -> "LangevinOptions":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class LangevinResult(SampledResult):
    """Ensemble- and time-averaged predictions of Langevin-trained networks (docs/theory.md §13).

    Attributes (beyond the result protocol)
    ----------
    f_train : (P,) Rao–Blackwellised ⟨E[f(X) | V]⟩; se_train : (P,) its standard error (ensemble spread).
    f_test, se_test : (P*,) the same on X*, or None.
    f_train_raw, se_train_raw, f_test_raw, se_test_raw : plain averages of the network outputs.
    chain_f_train : (E, P) per-network time averages of the RB estimate (error bar of any functional);
    chain_f_test : (E, P*) or None.
    trace : Trace with "loss" (mean squared training error ‖y − f‖²/P) and "mean_y_delta" (of the RB estimate)
        of every network at each record (burn-in included); ``trace.steps`` are step numbers.
    r_hat : split-R̂ of the post-burn-in mean(y·Δ) traces; converged : r_hat < RHAT_MAX, or the traces agree to
        metrics.AGREE_RTOL of mean(y²) (metrics.chains_agree); residual : r_hat − 1.
    v_var, w_var : mean squared hidden / readout weight after burn-in (original units; for the linear row-space
    path v_var is over the row-space components, the others being exactly prior). Prior values: v_prior, w_prior.
    dt : step size used after burn-in; thin; steps; burn_in; ensemble; integrator; device; dtype.
    steps_per_second : batched steps per second (each advances all E networks); seconds : wall time;
    cpu_seconds : CPU time of this process (all its threads) during the run — the fair measure on a shared machine.
    """

    f_train_raw: np.ndarray
    f_test_raw: np.ndarray | None
    se_train_raw: np.ndarray
    se_test_raw: np.ndarray | None
    v_var: float = float("nan")
    w_var: float = float("nan")
    dt: float = float("nan")
    thin: int = 1
    steps: int = 0
    burn_in: int = 0
    ensemble: int = 0
    integrator: str = "lm"
    device: str = "cpu"
    dtype: str = "float64"
    steps_per_second: float = float("nan")
    cpu_seconds: float = float("nan")
    options: LangevinOptions | None = None
    method: str = "langevin"
    n_inputs: int = 0

    @property
    def v_prior(self) -> float:
        return self.spec.g_v / self.n_inputs if self.n_inputs else float("nan")

    @property
    def w_prior(self) -> float:
        return self.spec.g_w / (self.spec.chi * self.spec.width)


# --- torch helpers ---------------------------------------------------------------------------------------


def _torch():
    import torch  # noqa: PLC0415  (torch is imported only when a trainer runs)

    return torch


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when torch sees a GPU, else 'cpu'."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"'device' is {device!r} but torch sees no CUDA device; use 'cpu' or 'auto'")
    return device


def _activation(name: str, H, need_grad: bool):
    """φ(H) and φ'(H) (None for the identity) from the activation's record (docs/theory.md §9)."""
    act = get_activation(name)
    if act.linear:
        return H, None
    return act.phi_torch(H), (act.dphi_torch(H) if need_grad else None)


class _Noise:
    """The standard Gaussians ξ_0, ξ_1, … of the steps, each one bulk float32 draw of all E·N·(K + 1) parameters
    into one of three reused buffers (module docstring, "Noise").

    With ``ahead`` on, ξ_{n+2} is drawn on a thread of its own while step n+1 computes its force; off, ξ_{n+1} is
    drawn when step n+1 needs it. The mode may change at any step: one generator, draws in step order, so the
    stream is the same whatever the mode.
    """

    def __init__(self, torch, gen, size: int, device: str):
        self.gen = gen
        self.bufs = [torch.empty(size, dtype=torch.float32, device=device) for _ in range(3)]
        self.k = 0
        self.bufs[0].normal_(generator=gen)  # ξ_0
        self.ahead = False
        self.pool = None
        self.pending = None  # the draw of ξ_{k+1}, when one is running

    def _draw(self, k: int):
        return self.bufs[k % 3].normal_(generator=self.gen)

    @property
    def current(self):
        """ξ_n, the draw of the last step (ξ_0 before the first)."""
        return self.bufs[self.k % 3]

    def advance(self):
        """ξ_{n+1}, which becomes the current draw."""
        k = self.k + 1
        if self.pending is not None:
            buf, self.pending = self.pending.result(), None
        else:
            buf = self._draw(k)
        if self.ahead:  # ξ_{k+1} goes into the buffer of ξ_{k−2}, free by now; it overlaps the next step's force
            if self.pool is None:
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="mastcore-noise")
            self.pending = self.pool.submit(self._draw, k + 1)
        self.k = k
        return buf

    def close(self):
        if self.pending is not None:
            self.pending.result()
            self.pending = None
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


class _AheadTuner:
    """Chooses, by measurement, whether drawing the noise ahead on a second thread pays on this machine now.

    Every cycle times PROBE_STEPS steps with the noise drawn ahead and PROBE_STEPS without, then runs the faster
    mode for PROBE_EVERY steps (about 5 % of the steps are spent probing). The result does not depend on it.
    """

    PROBE_STEPS = 8
    PROBE_EVERY = 300

    def __init__(self, noise: _Noise, allowed: bool):
        self.noise, self.allowed = noise, allowed
        self.t = {True: 0.0, False: 0.0}
        self.n = 0
        self.t0 = 0.0

    def before(self):
        if not self.allowed:
            return
        phase = self.n % (2 * self.PROBE_STEPS + self.PROBE_EVERY)
        if phase == 0:
            self.t = {True: 0.0, False: 0.0}
        if phase < 2 * self.PROBE_STEPS:
            self.noise.ahead = phase < self.PROBE_STEPS
        elif phase == 2 * self.PROBE_STEPS:
            self.noise.ahead = self.t[True] < self.t[False]
        self.t0 = time.perf_counter()

    def after(self):
        if not self.allowed:
            return
        phase = self.n % (2 * self.PROBE_STEPS + self.PROBE_EVERY)
        if 0 < phase < 2 * self.PROBE_STEPS and phase != self.PROBE_STEPS:  # the first step of a mode is not timed
            self.t[self.noise.ahead] += time.perf_counter() - self.t0
        self.n += 1


class _Chunk:
    """State and one-step update of a batch of E networks (whitened coordinates; see the module docstring)."""

    def __init__(self, X, y, X_test, spec: NetworkSpec, opts: LangevinOptions, E: int, seed: int, device: str):
        torch = _torch()
        self.torch = torch
        self.dtype = getattr(torch, opts.dtype)
        self.device = device
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(int(seed))
        self.spec, self.E, self.N = spec, E, spec.width
        P, D = X.shape
        self.P, self.D = P, D
        self.sv = math.sqrt(spec.g_v / D)
        self.sw = math.sqrt(spec.g_w / (spec.chi * spec.width))
        self.c = spec.chi / spec.kappa0  # data-term coefficient χ/κ0
        self.kappa0 = spec.kappa0
        self.act = get_activation(spec.activation)
        self.linear = self.act.linear and opts.fast_linear
        t = lambda a: torch.tensor(np.asarray(a), dtype=self.dtype, device=device)  # noqa: E731  (a copy)
        self.y_np = y
        self.y = t(y)
        if self.linear:
            rs = row_space(X)
            self.rs = rs
            self.S = t(rs.S)
            self.yh = t(rs.U.T @ y)  # ŷ = Uᵀy
            self.yperp2 = float(y @ y - (rs.U.T @ y) @ (rs.U.T @ y))
            self.lam_xx = float(rs.S[0] ** 2)
            K = rs.rank
        else:
            self.Xs = t(self.sv * X)  # σ_v X, so that H = Ṽ (σ_v X)ᵀ
            self.Xs_test = None if X_test is None else t(self.sv * X_test)
            self.lam_xx = float(row_space(X).S[0] ** 2)
            K = D
        noise_dtype = torch.float32  # fp32 Gaussians (4× cheaper than fp64 on CPU); the state stays in dtype
        self.V = torch.randn((E, self.N, K), generator=self.gen, device=device, dtype=noise_dtype).to(self.dtype)
        self.w = torch.randn((E, self.N), generator=self.gen, device=device, dtype=noise_dtype).to(self.dtype)
        self.n_v = E * self.N * K
        self.noise = _Noise(torch, self.gen, self.n_v + E * self.N, device)
        self._buf = None  # (E, N, P) work buffers of the generic force
        self.phi_prime_max = self.act.phi_prime_max  # sup|φ'|, sup|φ''| for the automatic step (§13)
        self.phi_second_max = self.act.phi_second_max

    def _split(self, buf):
        """(V part, w part) of a flat noise buffer, shaped like the state."""
        return buf[: self.n_v].view(self.V.shape), buf[self.n_v :].view(self.w.shape)

    # --- forces -------------------------------------------------------------------------------------------
    def _data_force_linear(self):
        """Row-space path: returns (g_w_data (E,N), ĝ (E,r)) with ∇_w̃ = w̃ + Z̃ĝ and ∇_Z̃ = Z̃ + w̃ĝᵀ."""
        torch = self.torch
        a = self.sv * self.sw
        beta = torch.bmm(self.w.unsqueeze(1), self.V).squeeze(1)  # Z̃ᵀw̃ (E, r)
        self.fh = beta.mul_(self.S * a)  # f in the U basis, f̂ = a S Z̃ᵀw̃
        g = (self.fh - self.yh).mul_(self.S * (self.c * a))  # ĝ = (χ/κ0) a S (f̂ − ŷ)
        gw = (self.V * g.unsqueeze(1)).sum(2)  # Z̃ ĝ (a batched mat-vec; faster than bmm with a (r, 1) operand)
        return gw, g

    def _data_force_generic(self):
        """Generic path: returns (g_w_data (E,N), G (E·N,P)) with ∇_Ṽ = Ṽ + G (σ_v X) and ∇_w̃ = w̃ + g_w_data.

        The (E, N, P) temporaries live in buffers reused from step to step (no allocation, no page faults)."""
        torch = self.torch
        E, N, D, P = self.E, self.N, self.D, self.P
        if self._buf is None:
            self._buf = [torch.empty((E, N, P), dtype=self.dtype, device=self.device) for _ in range(3)]
        H, A, G = self._buf
        torch.mm(self.V.view(E * N, D), self.Xs.T, out=H.view(E * N, P))  # h_iα = v_i·x_α
        act = self.act
        k = self.c * self.sw  # χ/κ0 σ_w
        if act.linear:
            A = H
        elif act.torch_force is not None:  # fused in-place φ, φ'/s (e.g. erf: s = 2/√π goes into k)
            k *= act.torch_force(H, A, G)
        else:
            A.copy_(act.phi_torch(H))
            G.copy_(act.dphi_torch(H))
        f = torch.bmm(self.w.unsqueeze(1), A).squeeze(1).mul_(self.sw)  # (E, P)
        self.f = f
        r = f - self.y
        gw = (A * r.unsqueeze(1)).sum(2).mul_(self.c * self.sw)  # (χ/κ0) σ_w φ(H) r (faster than a (P, 1) bmm)
        rk = r.mul_(k).unsqueeze(1)
        if act.linear:  # G = (χ/κ0) σ_w w̃_i r_α φ'(h_iα)  (E, N, P)
            torch.mul(self.w.unsqueeze(2), rk, out=G)
        else:
            G.mul_(self.w.unsqueeze(2)).mul_(rk)
        return gw, G.view(E * N, P)

    # --- one step (sub-steps: force, drift, noise) ----------------------------------------------------------
    def step(self, h: float, integrator: str):
        if self.linear:
            gw, g = self._data_force_linear()
            # Z̃ ← (1 − h) Z̃ − h w̃ ĝᵀ (drift of ½‖Z̃‖² + data term)
            self.V.baddbmm_(self.w.unsqueeze(2), g.unsqueeze(1), beta=1.0 - h, alpha=-h)
        else:
            gw, G = self._data_force_generic()
            E, N, D = self.E, self.N, self.D
            self.V.view(E * N, D).addmm_(G, self.Xs, beta=1.0 - h, alpha=-h)
        self.w.mul_(1.0 - h).add_(gw, alpha=-h)
        self._noise(h, integrator)

    def _noise(self, h: float, integrator: str):
        """Add the noise: LM √(h/2)(ξ_n + ξ_{n+1}), EM √(2h) ξ_{n+1} (docs/theory.md §13.2)."""
        prev = self.noise.current
        new = self.noise.advance()
        new_V, new_w = self._split(new)
        if integrator == "lm":
            s = math.sqrt(h / 2.0)
            old_V, old_w = self._split(prev)
            self.V.add_(old_V, alpha=s).add_(new_V, alpha=s)
            self.w.add_(old_w, alpha=s).add_(new_w, alpha=s)
        else:
            s = math.sqrt(2.0 * h)
            self.V.add_(new_V, alpha=s)
            self.w.add_(new_w, alpha=s)

    # --- measurements ----------------------------------------------------------------------------------------
    def _solve(self, K, b):
        """(K + κ0)⁻¹ b for a batch of PSD K (E, n, n), b (n,): Cholesky, or an eigendecomposition for the members
        where K + κ0 is numerically singular (κ0 ≪ the scale of K)."""
        torch = self.torch
        M = K + self.kappa0 * torch.eye(K.shape[-1], dtype=self.dtype, device=self.device)
        L, info = torch.linalg.cholesky_ex(M)
        rhs = b.expand(K.shape[0], -1).unsqueeze(2)
        x = torch.cholesky_solve(rhs, L).squeeze(2)
        # members where κ0 is below the rounding of K (n·eps·tr K): a Cholesky of K + κ0 is then meaningless
        tr = torch.diagonal(K, dim1=1, dim2=2).sum(1)
        bad = (info != 0) | (self.kappa0 < K.shape[-1] * torch.finfo(self.dtype).eps * tr)
        if bool(bad.any()):
            lam, Q = torch.linalg.eigh(K[bad])
            # eigenvalues within rounding of 0 are 0: K is singular there (rank ≤ N), not of size ~ rounding ≫ κ0
            floor = K.shape[-1] * torch.finfo(self.dtype).eps * lam[:, -1:].clamp_min(0.0)
            lam = torch.where(lam > floor, lam, torch.zeros_like(lam))
            x[bad] = (Q @ ((Q.transpose(1, 2) @ rhs[bad]) / (lam + self.kappa0).unsqueeze(2))).squeeze(2)
        return x

    def measure(self, X_test_np, with_test: bool, with_lambda: bool) -> dict:
        """Network outputs, the Rao–Blackwellised E[f|V], loss, mean(y·Δ) and (optionally) the curvature bound λ̂
        of docs/theory.md §13.3."""
        torch = self.torch
        if not (bool(torch.isfinite(self.V).all()) and bool(torch.isfinite(self.w).all())):
            return {"finite": False}
        out = {}
        g_w, N, k0, c = self.spec.g_w, self.N, self.kappa0, self.c
        sv, sw = self.sv, self.sw
        if self.linear:
            a = sv * sw
            fh = torch.bmm(self.w.unsqueeze(1), self.V).squeeze(1).mul_(self.S * a)  # (E, r)
            Kh = torch.bmm(self.V.transpose(1, 2), self.V).mul_(g_w * sv**2 / N)
            Kh = Kh * self.S[:, None] * self.S[None, :]  # K̂ = (g_w/N) S Zᵀ Z S σ_v² (E, r, r)
            x = self._solve(Kh, self.yh)  # (K̂+κ0)⁻¹ŷ
            fh_rb = self.yh - k0 * x  # K̂(K̂+κ0)⁻¹ŷ
            out["f_raw"] = fh  # in the U basis; lifted at the end
            out["f_rb"] = fh_rb
            yy = float(self.y_np @ self.y_np)
            P = self.P
            out["loss"] = (((fh - self.yh) ** 2).sum(1) + self.yperp2) / P
            out["myd"] = (yy - fh_rb @ self.yh) / P
            out["v_sq"] = self.V.square().mean()
            if with_lambda:
                lam_k = torch.linalg.eigvalsh(Kh)[:, -1]
                # readout weights about to be reached: their conditional mean m = χ σ_w σ_v Z̃ (S x̂) given Z̃
                m = torch.bmm(self.V, (self.S * x).unsqueeze(2)).squeeze(2).mul_(self.spec.chi * a)
                w2 = torch.maximum(self.w.square(), m.square())
                lam_v = c * sv**2 * sw**2 * w2.sum(1) * self.lam_xx
                lam_r = c * a * torch.linalg.vector_norm(self.S * (fh - self.yh), dim=1)  # ‖Xᵀ(f − y)‖ term
                out["lam_gn"] = float((1.0 + lam_k / k0 + lam_v).max())
                out["lam_res"] = float(lam_r.max())
        else:
            E, D = self.E, self.D
            H = torch.mm(self.V.view(E * N, D), self.Xs.T).view(E, N, self.P)
            A, dA = _activation(self.spec.activation, H, with_lambda)
            f = torch.bmm(self.w.unsqueeze(1), A).squeeze(1).mul_(sw)
            K = torch.bmm(A.transpose(1, 2), A).mul_(g_w / N)  # K_V (E, P, P)
            alpha = self._solve(K, self.y)  # (K_V+κ0)⁻¹y
            f_rb = self.y - k0 * alpha
            out["f_raw"], out["f_rb"] = f, f_rb
            out["loss"] = ((f - self.y) ** 2).mean(1)
            out["myd"] = (self.y * (self.y - f_rb)).mean(1)
            out["v_sq"] = self.V.square().mean()
            if with_test and self.Xs_test is not None:
                Ht = torch.mm(self.V.view(E * N, D), self.Xs_test.T).view(E, N, -1)
                At, _ = _activation(self.spec.activation, Ht, False)
                out["f_test_raw"] = torch.bmm(self.w.unsqueeze(1), At).squeeze(1).mul_(sw)
                # K_V(X*, X)(K_V+κ0)⁻¹y = (g_w/N) φ*ᵀ φ α
                out["f_test_rb"] = torch.bmm(At.transpose(1, 2), torch.bmm(A, alpha.unsqueeze(2))).squeeze(2).mul_(
                    g_w / N
                )
            if with_lambda:
                lam_k = torch.linalg.eigvalsh(K)[:, -1]
                # readout weights about to be reached: their conditional mean m = χ σ_w φ(H) α given V (§13.3)
                m = torch.bmm(A, alpha.unsqueeze(2)).squeeze(2).mul_(self.spec.chi * sw)
                w2 = torch.maximum(self.w.square(), m.square())  # (E, N)
                if dA is None:
                    diag = w2.sum(1)
                else:
                    diag = torch.bmm(w2.unsqueeze(1), dA.square()).squeeze(1).max(1).values
                lam_v = c * sv**2 * sw**2 * diag * self.lam_xx
                r = f - self.y
                # residual (non-Gauss–Newton) curvature: the w̃_i–ṽ_i blocks (φ') and the ṽ_i block (φ'')
                lam_r = c * sw * sv * self.phi_prime_max * math.sqrt(self.lam_xx) * torch.linalg.vector_norm(r, dim=1)
                if self.phi_second_max:
                    lam_r = lam_r + (c * sw * sv**2 * self.phi_second_max * self.lam_xx) * (
                        w2.max(1).values.sqrt() * r.abs().max(1).values)
                out["lam_gn"] = float((1.0 + lam_k / k0 + lam_v).max())
                out["lam_res"] = float(lam_r.max())
        out["w_sq"] = self.w.square().mean()
        out["finite"] = bool(torch.isfinite(out["f_rb"]).all())
        return out


def _lift(chunk: _Chunk, fh: np.ndarray, X_test) -> tuple[np.ndarray, np.ndarray | None]:
    """Linear row-space path: U-basis predictions (E, r) → train (E, P) and test X* X⁺ f (E, P*)."""
    rs = chunk.rs
    f = fh @ rs.U.T
    ft = None if X_test is None else (fh / rs.S) @ (X_test @ rs.W).T
    return f, ft


class _Diverged(Exception):
    """The state or the kernel stopped being finite at ``step`` with step size ``dt``."""

    def __init__(self, step: int, dt: float):
        super().__init__(step, dt)
        self.step, self.dt = step, dt


def _run_chunk(X, y, X_test, spec, opts: LangevinOptions, E: int, seed: int, device: str, progress=None):
    """Advance E networks under the thread policy; returns numpy per-member averages, traces and diagnostics.

    With the automatic step a divergence restarts the chunk from the same initial state with a 4× smaller step
    (at most MAX_RESTARTS times); with a given ``dt`` it raises FloatingPointError.
    """
    _torch()  # imported before the policy is entered again, so that it sets torch's threads too
    P, D = X.shape
    size = dict(P=P, D=D, width=spec.width, activation=spec.activation,
                options={"options": types.SimpleNamespace(ensemble=E, fast_linear=opts.fast_linear)})
    user = contextlib.nullcontext() if opts.threads is None else _threads.threads(opts.threads)
    with user, _threads.policy("langevin", **size) as plan:
        ahead = plan.noise_ahead and device == "cpu"
        safety = DT_SAFETY
        for restart in range(MAX_RESTARTS + 1):
            try:
                out = _run_chunk_inner(X, y, X_test, spec, opts, E, seed, device, progress, safety, ahead)
                out["restarts"] = restart
                return out
            except _Diverged as exc:
                if opts.dt is not None:
                    raise FloatingPointError(
                        f"Langevin dynamics diverged at step {exc.step} with the given dt = {exc.dt:.3g}; reduce "
                        "'dt' (or leave it None for the automatic choice)"
                    ) from None
                if restart == MAX_RESTARTS:
                    raise FloatingPointError(
                        f"Langevin dynamics diverged at step {exc.step} with the automatic step size "
                        f"(dt = {exc.dt:.3g}, {MAX_RESTARTS} restarts at 4x smaller steps): the curvature bound "
                        f"of docs/theory.md §13.3 failed at chi = {spec.chi:g}, kappa0 = {spec.kappa0:g}; check "
                        "the scale of X and y, or pass a smaller 'dt' explicitly"
                    ) from None
                safety /= 4.0


def _run_chunk_inner(X, y, X_test, spec, opts: LangevinOptions, E: int, seed: int, device: str, progress,
                     safety: float, noise_ahead: bool):
    torch = _torch()
    ch = _Chunk(X, y, X_test, spec, opts, E, seed, device)
    try:
        with torch.no_grad():
            return _advance(ch, X_test, opts, progress, safety, _AheadTuner(ch.noise, noise_ahead))
    finally:
        ch.noise.close()


def _advance(ch: _Chunk, X_test, opts: LangevinOptions, progress, safety: float, tuner: _AheadTuner) -> dict:
    dt = opts.dt
    auto = dt is None
    first = ch.measure(X_test, with_test=False, with_lambda=True)
    if not first["finite"]:
        raise FloatingPointError("Langevin: the initial kernel is not finite; check the scale of X, g_v and g_w")
    # λ̂ = Gauss–Newton part (running maximum: features only grow) + residual part (the latest two records: it
    # falls as the networks fit the data), docs/theory.md §13.3
    lam_gn, lam_res = first["lam_gn"], first["lam_res"]
    if auto:
        dt = safety / (lam_gn + lam_res)
    thin = opts.thin
    if thin is None:  # about every RECORD_TIME time units, and at least MIN_RECORDS records after burn-in
        thin = max(1, min(int(round(RECORD_TIME / dt)), (opts.steps - opts.burn_in) // MIN_RECORDS))
    sums: dict = {}
    n_avg = 0
    rec_steps, loss_tr, myd_tr = [], [], []
    v_sq = w_sq = 0.0
    report_every = max(1, opts.steps // 100)
    for n in range(1, opts.steps + 1):
        tuner.before()
        ch.step(dt, opts.integrator)
        tuner.after()
        if n % thin == 0 or n == opts.steps:
            sampling = n > opts.burn_in
            try:
                m = ch.measure(X_test, with_test=sampling, with_lambda=auto and not sampling)
            except RuntimeError:  # torch.linalg errors (overflowed kernel): the dynamics blew up
                m = {"finite": False}
            if not m["finite"]:
                raise _Diverged(n, dt)
            if auto and not sampling:  # burn-in: follow the curvature (features grow), frozen afterwards
                lam_gn = max(lam_gn, m["lam_gn"])
                dt = safety / (lam_gn + max(lam_res, m["lam_res"]))
                lam_res = m["lam_res"]
            rec_steps.append(n)
            loss_tr.append(m["loss"].cpu().numpy())
            myd_tr.append(m["myd"].cpu().numpy())
            if sampling:
                n_avg += 1
                for key in ("f_raw", "f_rb", "f_test_raw", "f_test_rb"):
                    if key in m:
                        sums[key] = sums.get(key, 0) + m[key]
                v_sq += float(m["v_sq"])
                w_sq += float(m["w_sq"])
        if progress is not None and (n % report_every == 0 or n == opts.steps):
            stage = "burn-in" if n <= opts.burn_in else "sampling"
            current = float(np.mean(myd_tr[-1])) if myd_tr else None
            progress(n, opts.steps, {"stage": stage, "mean_y_delta": current})
    means = {k: (v / n_avg).cpu().numpy().astype(np.float64) for k, v in sums.items()}
    if ch.linear:
        f_raw, ft_raw = _lift(ch, means["f_raw"], X_test)
        f_rb, ft_rb = _lift(ch, means["f_rb"], X_test)
    else:
        f_raw, f_rb = means["f_raw"], means["f_rb"]
        ft_raw, ft_rb = means.get("f_test_raw"), means.get("f_test_rb")
    rec_steps = np.asarray(rec_steps)
    return dict(
        f_raw=f_raw, f_rb=f_rb, ft_raw=ft_raw, ft_rb=ft_rb,
        loss=np.stack(loss_tr), myd=np.stack(myd_tr), rec_steps=rec_steps, dt=dt, thin=thin,
        v_var=v_sq / n_avg * ch.sv**2, w_var=w_sq / n_avg * ch.sw**2,
    )


def _nngp_thin(X, spec: NetworkSpec, steps: int, burn_in: int) -> int:
    """Record interval from the curvature bound at the NNGP kernel, 1 + λ_max(C0)/κ0 (used to align chunks)."""
    lam = 1.0 + float(train_kernel_eigh(X, spec)[0][-1]) / spec.kappa0
    return max(1, min(int(round(RECORD_TIME * lam / DT_SAFETY)), (steps - burn_in) // MIN_RECORDS))


def _trace_rhat(myd: np.ndarray, y: np.ndarray, dtype: str) -> float:
    """Split-R̂ of the post-burn-in mean(y·Δ) traces (n_records, E) at the scale mean(y²); a trace constant to the
    working precision (spread below CONSTANT_TRACE_ULPS rounding units of ``dtype``, or metrics.CONSTANT_RTOL) is 1."""
    rtol = max(CONSTANT_RTOL, CONSTANT_TRACE_ULPS * float(np.finfo(dtype).eps))
    return split_rhat(myd.T, scale=float(np.mean(y * y)), rtol=rtol)


def _se(members: np.ndarray | None) -> np.ndarray | None:
    if members is None:
        return None
    return members.std(axis=0, ddof=1) / np.sqrt(members.shape[0])


def _chunks_info(parts: list, y: np.ndarray) -> dict:
    """Progress info after a finished chunk: the networks finished so far, their per-network time averages of the
    RB estimate (``chain_f_train`` (n, P), ``chain_f_test`` (n, P*) or None) and the running train mean(y·Δ) over
    them with its standard error (NaN below 2 networks) — what a caller streams while the other chunks run."""
    f = np.concatenate([p["f_rb"] for p in parts], axis=0)
    ft = None if parts[0]["ft_rb"] is None else np.concatenate([p["ft_rb"] for p in parts], axis=0)
    per = np.mean(y[None, :] * (y[None, :] - f), axis=1)  # mean(y·Δ) of each network, docs/theory.md §0.2
    return {"stage": "chunks", "networks": int(f.shape[0]), "mean_y_delta": float(per.mean()),
            "mean_y_delta_se": chain_se(per) if per.size >= 2 else float("nan"),
            "chain_f_train": f, "chain_f_test": ft}


@solver("langevin")
def train_langevin(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    options: LangevinOptions | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    cache: bool = False,
) -> LangevinResult:
    """Train an ensemble of two-layer networks with preconditioned Langevin dynamics (module docstring).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None
    spec : NetworkSpec (any activation: linear, erf, relu).
    options : LangevinOptions (default ``LangevinOptions()``).
    progress : optional callback(done, total, info) about every 1 % of the steps (info: "stage",
        "mean_y_delta"); with ``options.chunks > 1`` it reports finished chunks instead, with the running estimate
        over the networks finished so far (info: "networks", "mean_y_delta", "mean_y_delta_se", and their
        per-network averages "chain_f_train", "chain_f_test"). Under ``joblib.parallel_config(backend=
        "sequential")`` the chunks run one after the other and the next starts only when the callback returns.
    cache : store the result on disk (mastcore.cache).

    Returns
    -------
    LangevinResult
    """
    if options is None:
        options = LangevinOptions()
    t0, c0 = time.perf_counter(), time.process_time()
    if not isinstance(options, LangevinOptions):
        raise ValueError(f"'options' must be a LangevinOptions; got {type(options).__name__}")
    X, y, X_test = check_data(X, y, X_test)
    device = resolve_device(options.device)
    E = options.ensemble
    if options.chunks == 1:
        parts = [_run_chunk(X, y, X_test, spec, options, E, options.seed, device, progress)]
    else:
        from joblib import Parallel, delayed  # noqa: PLC0415

        if options.thin is None:  # all chunks must record at the same steps: thin from the (deterministic) NNGP kernel
            options = options.replace(thin=_nngp_thin(X, spec, options.steps, options.burn_in))
        sizes = [E // options.chunks + (1 if k < E % options.chunks else 0) for k in range(options.chunks)]
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(options.seed).spawn(options.chunks)]
        jobs = (delayed(_run_chunk)(X, y, X_test, spec, options, n, s, device) for n, s in zip(sizes, seeds))
        parts = []
        # the chunks are the parallelism: one thread each where they share this process (threading, dask) — set
        # here, in the parent, so that no chunk restores the process-wide count while another runs; process
        # workers (loky) get joblib's *_NUM_THREADS, which the policy respects (docs/theory.md §17)
        _torch()
        with _threads.threads(options.threads or 1), _threads.limit_threads(options.threads or 1):
            for k, part in enumerate(Parallel(n_jobs=options.chunks, return_as="generator")(jobs)):
                parts.append(part)
                if progress is not None:
                    progress(k + 1, options.chunks, _chunks_info(parts, y))
    cat = lambda key: None if parts[0][key] is None else np.concatenate([p[key] for p in parts], axis=0)  # noqa: E731
    f_rb, f_raw, ft_rb, ft_raw = cat("f_rb"), cat("f_raw"), cat("ft_rb"), cat("ft_raw")
    loss = np.concatenate([p["loss"] for p in parts], axis=1)
    myd = np.concatenate([p["myd"] for p in parts], axis=1)
    rec = parts[0]["rec_steps"]
    post = rec > options.burn_in
    r_hat = _trace_rhat(myd[post], y, options.dtype)
    # R̂ measures disagreement relative to the within-chain noise: chains that agree to a negligible fraction of
    # mean(y²) are converged even when that ratio is large (κ0 → 0, metrics.AGREE_RTOL)
    converged = bool(np.isfinite(r_hat) and (r_hat < RHAT_MAX or chains_agree(myd[post].T, float(np.mean(y * y)))))
    restarts = sum(p["restarts"] for p in parts)
    if restarts:
        warn(f"Langevin: the automatic step diverged and was reduced 4x ({restarts} restart(s)); the run "
             f"used dt = {max(p['dt'] for p in parts):.3g}", ConvergenceWarning)
    if not converged:
        warn(
            f"Langevin ensemble not equilibrated: split-R̂ of mean(y·Δ) = {r_hat:.3f} (>= {RHAT_MAX}); increase "
            "'steps' and 'burn_in'",
            ConvergenceWarning,
        )
    seconds = time.perf_counter() - t0
    return LangevinResult(
        f_train=f_rb.mean(0), f_test=None if ft_rb is None else ft_rb.mean(0),
        se_train=_se(f_rb), se_test=_se(ft_rb),
        f_train_raw=f_raw.mean(0), f_test_raw=None if ft_raw is None else ft_raw.mean(0),
        se_train_raw=_se(f_raw), se_test_raw=_se(ft_raw),
        chain_f_train=f_rb, chain_f_test=ft_rb,
        trace=Trace(steps=rec, values={"loss": loss, "mean_y_delta": myd}, burn_in=options.burn_in + 1),
        r_hat=r_hat, converged=converged, n_iter=options.steps, residual=float(r_hat - 1.0),
        v_var=float(np.mean([p["v_var"] for p in parts])), w_var=float(np.mean([p["w_var"] for p in parts])),
        dt=float(max(p["dt"] for p in parts)), thin=int(parts[0]["thin"]), steps=options.steps,
        burn_in=options.burn_in, ensemble=E, integrator=options.integrator, device=device, dtype=options.dtype,
        steps_per_second=options.steps / seconds, seconds=seconds, cpu_seconds=time.process_time() - c0, spec=spec,
        options=options, n_inputs=X.shape[1], flags=("dt_restarted",) if restarts else (),
    )
