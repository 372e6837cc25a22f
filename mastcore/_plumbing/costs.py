"""The cost models of the built-in solvers: peak memory and time of one call from the sizes of the problem alone
(docs/theory.md §16; docs/operations.md "Cost model"), read by :mod:`mastcore._plumbing.budget`.

Each model returns (peak floats, result floats, flops, elements, small calls, parts): bytes counted from the arrays
the solver allocates (float64 slots of their shapes), seconds from the flop and element counts divided by the
rates measured on this machine — the calibration layer, :data:`RATES`, re-fitted by ``python bench/resources.py
--calibrate`` — and the measured iteration and sample counts below.
"""
from __future__ import annotations

import math

from .validation import positive_int

#: This module cannot change a result: the cache's source hash leaves it out (mastcore._plumbing.cache, "Keys").
CACHE_NEUTRAL = True

F8 = 8  # bytes per float64

#: Measured constants of the time model (docs/theory.md §16.3), fitted by ``python bench/resources.py --calibrate``
#: to the CPU time of calls at P ∈ {24, 120, 240, 800}, D = 300, P* = 500, N = 60 (2 shared cores, default threads):
#: per method ``s0`` the seconds of a tiny call, ``flops`` the rate of its dense algebra (flop/s), ``elem`` seconds
#: per element of elementwise work, ``unit`` seconds of one small numpy/torch call. ``<method>_nonlinear``: erf and
#: ReLU networks. The comments give estimate/measured at the calibration points.
RATES: dict[str, dict[str, float]] = {
    "nngp": dict(s0=0.00069, flops=2.52e+10, elem=2.02e-09, unit=9.39e-07),  # 0.39, 0.85, 1.21, 0.96
    "tree": dict(s0=0.00253, flops=1.67e+10, elem=0.0, unit=9.39e-07),  # 1.14, 1.07, 0.95, 0.95
    "rescaled": dict(s0=0.000936, flops=7.89e+10, elem=1.88e-09, unit=9.39e-07),  # 0.72, 0.99, 1.13, 0.97
    "one_loop": dict(s0=0.0031, flops=3.76e+10, elem=5e-10, unit=9.39e-07),  # 1.09, 1.00, 0.94, 1.04
    "quadrature": dict(s0=0.00446, flops=1.08e+10, elem=1.03e-09, unit=9.39e-07),  # 1.07, 0.98, 0.78, 1.12
    "exact": dict(s0=0.00185, flops=5.18e+10, elem=1.83e-09, unit=9.39e-07),  # 0.99, 1.02, 1.00, 1.00
    "langevin": dict(s0=0.0053, flops=1.19e+11, elem=8.18e-10, unit=9.39e-07),  # 1.00, 1.00, 1.00, 1.00
    "nngp_nonlinear": dict(s0=0.000674, flops=1.14e+10, elem=0.0, unit=9.39e-07),  # 0.43, 0.88, 1.28, 0.85
    "tree_nonlinear": dict(s0=0.00325, flops=1.08e+11, elem=1.31e-09, unit=9.39e-07),  # 1.23, 0.25, 1.08, 1.00
    "langevin_nonlinear": dict(s0=0.00562, flops=4.7e+10, elem=3.16e-10, unit=9.39e-07),  # 1.09, 0.94, 0.94, 1.01
    # building a task (estimate_task): not calibrated, an order of magnitude (elementwise draws)
    "task": dict(s0=1e-3, flops=1.0e10, elem=8e-9, unit=0.0),
}


def _seconds(rates: str, act, flops, elems, units) -> float:
    k = RATES[rates] if act.linear else RATES.get(f"{rates}_nonlinear", RATES[rates])
    return k["s0"] + flops / k["flops"] + elems * k["elem"] + units * k["unit"]


# --- option tables ------------------------------------------------------------------------------------------

#: χ: the annealed erf/ReLU tree level's cost and whether the erf/ReLU one loop ("auto") goes to the particle saddle
#: depend on it; unknown (None) counts as χ = width, the upper bound
_COMMON = dict(chi=None)
_OPTIONS = {
    "nngp": {},
    # None: the solver's own default (mastcore/theory/_defaults.py, see _solver_defaults)
    "tree": dict(ansatz=None, variant="full", n_particles=None, n_stages=None, outer_per_stage=None, outer_final=None,
                 mcmc_steps=None, particle_stages=None, estimator=None, n_draws=None, warm=False, max_iter=None, tol=None, seed=0, strict=False, init=None,
                 C_init=None),
    "rescaled": {},
    "one_loop": dict(variant="auto", kernel_variance=True, tol=None, max_iter=None, strict=False,
                     tree=None, ansatz=None, n_samples=None, max_samples=None, mc_rtol=None, seed=0, warm=False),
    "quadrature": dict(n_nodes=2001, tol=None),
    "exact": dict(n_chains=64, n_sweeps=2000, burn_in=200, seed=0),
    "langevin": dict(ensemble=16, steps=20000, burn_in=2000, thin=None, dtype="float64", fast_linear=True,
                     chunks=1, lambda_max=None, dt=None, device="auto", seed=0, integrator="lm", threads=None),
}


def _int_opt(opts, name, minimum=1):
    return positive_int(name, opts[name], minimum=minimum)


# --- the models ------------------------------------------------------------------------------------------------
# Each returns (peak floats, result floats, flops, elements, units, parts). "floats" are float64 slots (8 bytes).


def _row_space(P, D):
    """Thin SVD of X (P, D) (mastcore._linalg.row_space): a copy of X for LAPACK, U, Vᵀ and gesdd's workspace,
    then the kept U (P, k) and W (D, k), which stay in the row-space memo."""
    k = min(P, D)
    peak = P * D + 2 * (P * k + k * D) + 5 * k * k
    kept = P * k + k * D
    flops = 4.0 * max(P, D) * k * k + 8.0 * k**3
    return peak, kept, flops


def _kernel_temps(act):
    """Live (n, m) arrays while a closed-form kernel of the activation ``act`` is formed (nonlinear_kernels.
    pair_kernel): the activation record's relative cost (linear 2, erf 8, ReLU 11)."""
    return act.cost


def _nngp(P, D, Ps, N, act, o):
    t = _kernel_temps(act)
    x_copy = 0 if act.linear else P * D  # σ²·X
    # train kernel (t live P×P arrays), then the test kernel beside C0, then gp_predict: C0, κ0·I, A, its factor
    peak = max(x_copy + t * P * P, P * P + (0 if act.linear else Ps * D) + t * Ps * P,
               3 * P * P + Ps * P)
    result = P * P + P + Ps
    flops = 2.0 * P * P * D + 2.0 * Ps * P * D + P**3 / 3.0
    elems = (t * 3) * (P * P + Ps * P)
    return peak, result, flops, elems, 20, {}


def _tree_linear(P, D, Ps, N, o):
    r = min(P, D)
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    warm = o.get("warm") or o.get("init") is not None or o.get("C_init") is not None
    iters = 1 if o["variant"] == "rescaling" else (TREE_ITERS_WARM if warm else TREE_ITERS)
    # iteration (saddle._tree_iteration): C, C0, K_B, C_new and the temporaries of the Woodbury background kernel
    it_peak = 12 * r * r
    # residual and lift (saddle.linear_tree_level): R, C̃, products (r×r); C, K_B, R lifted to P×P when r < P
    lift = 0 if r == P else 6 * P * P
    result = 2 * P * P + r * r + 3 * P + Ps
    peak = sv_kept + max(sv_peak - sv_kept, it_peak, 10 * r * r + lift) + (P * P if r == P else 0)
    # per iteration: Cholesky r³/3, triangular solve r³, FᵀF 2r³, and the spectrum of K_B (a full eigh below
    # r = 160, ~9r³; above it Householder tridiagonalisation 4r³/3 and Q applied to vectors only, O(r²) each in
    # a Python loop over the r reflectors); then h(s) on the 801-point grid
    spectral = 9.0 * r**3 if r < 160 else 4.0 * r**3 / 3.0
    flops = (sv_flops + iters * (10.0 * r**3 / 3.0 + spectral) + 10.0 * r**3 + (6.0 * P * P * r if r < P else 0.0)
             + 2.0 * Ps * D * r)
    elems = iters * (801 * r * 8 + 100 * r * r)
    units = iters * ((6 * r if r >= 160 else 0) + 300)  # numpy calls: reflectors, h(s) and Brent's evaluations
    return peak, result + sv_kept, flops, elems, units, {"row_space": sv_kept * F8}


#: Outer iterations of the linear tree level from a cold start (docs/theory.md §4.4: 6–8 measured at P = 80…1600;
#: more at small N where the damping acts); warm starts inside a sweep need about 4.
TREE_ITERS = 7
TREE_ITERS_WARM = 4
#: Damped precision iterations of the Gaussian erf/ReLU tree level per χ stage (docs/theory.md §9.2): ~10 for the
#: single stage at χ = 1, 20–40 per stage when annealing (measured at P = 120…400; up to ~100 at small P).
GAUSS_ITERS_FIRST = 10
GAUSS_ITERS_STAGE = 25
#: ... and at a warm-started χ point of a sweep (docs/theory.md §16.3; the previous χ's law as start): 8–389,
#: median about 50–60, on the Teaching and Fig.-2 presets (erf and ReLU, 9-point χ grids; 0.08–0.30 s per sweep).
GAUSS_ITERS_WARM = 60
#: L-BFGS function evaluations per start of the non-zero-mean Gaussian ansatz (docs/theory.md §9.3), 2 (erf) or 3
#: (ReLU) starts. The cap is 400 iterations, but the runs stop far earlier: 500 overestimated ReLU at χ = N by
#: 6–12× (P = 20…80, D = 30, N = 50: 1.7 s estimated 20.5 s at P = 80); 45 gives 0.55–1.1× there.
LBFGS_EVALS = 45


def _solver_defaults() -> dict:
    """Defaults the estimates need, from mastcore/theory/_defaults.py, where the solvers take them from too
    (imported here at call time: the package imports this module before the theory)."""
    from ..theory import _defaults as d

    return {"gaussian_stages": d.ANNEAL_STAGES, "loop_block": max(d.PRIOR_BLOCK, d.CUMULANT_BLOCK),
            "tilted_samples": d.TILTED_SAMPLES, "psi_vec_bytes": d.PSI_VEC_BYTES,
            "renormalised_samples": d.RENORMALISED_SAMPLES,
            "companion_samples": d.COMPANION_SAMPLES, "ks_every": d.KS_EVERY, "warm_stages": d.WARM_STAGES,
            "particles": dict(n_particles=d.N_PARTICLES, n_stages=d.PARTICLE_STAGES,
                              outer_per_stage=d.OUTER_PER_STAGE, outer_final=d.OUTER_FINAL, mcmc_steps=d.MCMC_STEPS,
                              estimator="weighted", n_draws=d.WEIGHTED_DRAWS),
            "weighted_groups": d.WEIGHTED_GROUPS, "weighted_max_p": d.WEIGHTED_MAX_P}


def _stages(chi: float, N: int, n_stages: int) -> int:
    """χ stages of the annealed nonlinear tree level from the NNGP (tree.nonlinear._chi_path)."""
    if chi <= 1.0 + 1e-12:
        return 1
    span = math.log(chi) / max(math.log(max(N, 2)), 1e-12)
    return max(2, int(math.ceil(n_stages * min(span, 1.0))) + 1) - 1


#: Fixed-point steps of the weighted particle saddle in pooled-equivalents (tree/weighted.py: 10–16 Anderson steps of
#: the pooled draws and ~8 of each group's eighth, measured at the teaching and Fig. 2 presets).
WEIGHTED_STEPS = 24


def _tree_nonlinear(P, D, Ps, N, act, o):
    r = min(P, D)
    ansatz = o["ansatz"] or act.default_ansatz
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    warm = o["warm"] or o["init"] is not None
    solver = _solver_defaults()
    stages = 1 if warm else _stages(float(o["chi"] or N), N, int(o["n_stages"] or solver["gaussian_stages"]))
    iters = GAUSS_ITERS_WARM if warm else GAUSS_ITERS_FIRST + GAUSS_ITERS_STAGE * (stages - 1)
    # Gaussian map (tree.nonlinear._gaussian_map): M = ZΣZᵀ and the kernel with its derivatives (pair_kernel: A, B, AB,
    # δ, √δ, k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b and two temporaries, ~12 live P×P); per application M and ZᵀGZ
    # (4P²r + 4Pr²), a Cholesky and inverse of C + κ0 (P³) and of Λ (2r³), and ~40 elementwise passes over P×P
    g_peak = 12 * P * P + 6 * r * r + P * r
    flops = sv_flops + iters * (4.0 * P * P * r + 4.0 * P * r * r + P**3 + 2.0 * r**3)
    elems = iters * 40.0 * P * P
    units = iters * 80
    # the test kernel at the end (pair_kernel without derivatives, ~8 live P*×P) beside the train-set arrays
    peak = sv_kept + max(sv_peak - sv_kept, g_peak, 4 * P * P + 8 * Ps * P)
    if ansatz == "gaussian_mean":
        # torch autograd through the Gauss–Legendre kernel: each of the P(P−1)/2 pairs carries 80 nodes, and
        # backward keeps about 12 such tensors (nonlinear_kernels.mean_pair_kernel_torch)
        pairs = P * (P - 1) / 2
        q = 80
        peak = max(peak, sv_kept + int(12 * pairs * q) + 8 * P * P)
        evals = LBFGS_EVALS * (2 if act.odd else 3)  # an odd φ needs one sign of each shift
        flops += evals * (P**3 / 3.0 + 4.0 * P * P * r)
        elems += evals * 40.0 * pairs * q
        units += evals * 300  # torch operations of one forward and backward pass
    elif (ansatz == "particles" and (o["estimator"] or solver["particles"]["estimator"]) == "weighted"
          and P <= solver["weighted_max_p"]):
        # weighted QMC draws of a Gaussian proposal (tree/weighted.py, docs/theory.md §9.4), one thread: n draws (V, ξ
        # (n, r)), their features F and F·C̃ (n, P); WEIGHTED_STEPS fixed-point steps of 4nP² flops (the pooled
        # solve and the groups' own, in pooled-equivalents); the test kernel per group: V_g Z*ᵀ, the smoothed test
        # features and two (P*, n_g)·(n_g, P) products
        n = positive_int("n_draws", o["n_draws"] or solver["particles"]["n_draws"])
        ng = max(n // solver["weighted_groups"], 1)
        peak = sv_kept + max(sv_peak - sv_kept, 4 * n * r + 4 * n * P + 6 * P * P + (3 * ng * Ps + Ps * P if Ps else 0))
        flops = (sv_flops + 2.0 * n * r * (r + P) + WEIGHTED_STEPS * (4.0 * n * P * P + 2.0 * P**3)
                 + (2.0 * n * Ps * (r + 2 * P) if Ps else 0.0))
        elems = 40.0 * n * r + WEIGHTED_STEPS * 8.0 * n * P + (20.0 * n * Ps if Ps else 0.0)
        units = WEIGHTED_STEPS * 40 + 400
        if not warm:  # the first proposal: the Gaussian ansatz's law at this χ, annealed from the NNGP
            g_peak, _, g_flops, g_elems, g_units, _ = _tree_nonlinear(P, D, Ps, N, act, dict(o, ansatz=act.default_ansatz))
            peak, flops, elems, units = max(peak, g_peak), flops + g_flops - sv_flops, elems + g_elems, units + g_units
    elif ansatz == "particles":
        # particle options as the solver fills them (tree_level's n_stages is for the Gaussian ansätze only)
        po = {**solver["particles"], **{k: o[k] for k in ("n_particles", "outer_per_stage", "outer_final",
                                                          "mcmc_steps") if o[k] is not None}}
        if o.get("particle_stages") is not None:  # a warm start along χ (theory.loops.variants.WARM_STAGES)
            po["n_stages"] = positive_int("particle_stages", o["particle_stages"])
        M = positive_int("n_particles", po["n_particles"])
        n_outer = po["n_stages"] * po["outer_per_stage"] + po["outer_final"]
        steps = n_outer * (po["mcmc_steps"] + 1)
        # the test kernel, accumulated every KS_EVERY-th iteration of the averaging window: M × P* features and a
        # (P*, M) × (M, P) product each time
        n_ks = -(-po["outer_final"] // _solver_defaults()["ks_every"]) if Ps else 0
        # MALA (theory/tree/particles.py): V, proposal, gradients (M×r) and H, F, FC, φ'(H) (M×P) twice;
        # the history of C over the averaging window (outer_final × P×P)
        peak = sv_kept + max(sv_peak - sv_kept, 10 * M * P + 8 * M * r + po["outer_final"] * P * P + 6 * P * P
                             + (3 * M * Ps + Ps * P if Ps else 0))
        flops = (sv_flops + steps * (4.0 * M * P * r + 2.0 * M * P * P) + n_outer * (2.0 * M * P * P + P**3)
                 + n_ks * 2.0 * M * Ps * (P + r))
        elems = steps * 20.0 * M * P + n_ks * 20.0 * M * Ps
        units = steps * 40
    result = P * P + 4 * P + Ps + 2 * r * r + D
    return peak, result + sv_kept, flops, elems, units, {"row_space": sv_kept * F8}


def _tree(P, D, Ps, N, act, o):
    if act.linear:
        return _tree_linear(P, D, Ps, N, o)
    return _tree_nonlinear(P, D, Ps, N, act, o)


def _rescaled(P, D, Ps, N, act, o):
    t = _kernel_temps(act)
    # C0 (kernel temporaries as in nngp), eigh (a copy, Q, workspace), the 1601-point grid of Φ' (3 live
    # (1601, P) arrays), then C = u·C0, A and its factor, the test kernel
    grid = 1601
    peak = max((0 if act.linear else P * D) + t * P * P,
               P * P + 4 * P * P,
               2 * P * P + 3 * grid * P,
               5 * P * P + (t * Ps * P + (Ps * D if not act.linear else 0) if Ps else 0))
    result = P * P + P + Ps
    flops = 2.0 * P * P * D + 2.0 * Ps * P * D + 10.0 * P**3 + P**3 / 3.0
    elems = 3 * t * (P * P + Ps * P) + grid * P * 12 + 60 * P * 6
    return peak, result, flops, elems, 500, {}


#: Sampled one loops (docs/theory.md §12): samples of the neuron law processed in blocks; the cost of one prior
#: sample per train point is the activation record's ``sample_seconds`` (erf 6.7e-8 s, ReLU 5.4e-8 s), a test point
#: costs TEST_POINT_WEIGHT of a train point (its features only: fitted at P = 20…160, P* = 0…1000, 32768 draws:
#: erf 0.25, ReLU 0.16 — within 12 % of each measured time).
TEST_POINT_WEIGHT = 0.25
#: The one loop around the particle saddle (docs/theory.md §16.3) in its dense representation (where
#: theory._defaults.choose_representation picks it: small P) builds operators on Sym(P)
#: (m = P(P+1)/2): about 24 m×m arrays at the peak. Its nine jackknife evaluations (S tilted samples) take
#: DENSE_M3·m³ + DENSE_SP2·S·P² seconds, plus DENSE_TEST·S·P·P* with a test set: fitted at P = 30, 40, 50, 60, 70,
#: 80 (S = 8000, χ = N: 1.5, 2.7, 6.1, 10.9, 22.4, 44.0 s; the fit is within 0.94–1.07 of each), P* = 1000 at
#: P = 80 (+4.5 s). The m³ part (LU solves and m×m products) takes over from P ≈ 50.
DENSE_ARRAYS = 24
DENSE_M3 = 9.9e-10
DENSE_SP2 = 1.84e-7
DENSE_TEST = 7e-9
#: Where the S×S sample representation is the cheaper one that fits (docs/theory.md §12.10,
#: theory._defaults.choose_representation: large P), its jackknife takes SAMPLE_S3·S³ + SAMPLE_S2P·S²·(P + P*)
#: seconds (≈ 2.8 S³ + 20 S²P flops at the one loop's dense rate) plus SAMPLE_SP2·S·P² (the tilted samples and the
#: O(S P²) contractions; the rest of the measured 16.0 s at P = 300, S = 4000; at P = 80 the model gives 13.9 s for
#: a measured 11.8–12.7 s, one thread), and about theory._defaults.SAMPLE_ARRAYS S×S arrays.
#: A warm point of a sweep reads the shared prior draws of the previous χ (docs/theory.md §12.9): its prior part
#: costs this fraction of a cold point's (measured at the Fig. 2 preset, 25 χ: erf 0.04 s against 0.5 s cold for
#: 16384 draws; ReLU, whose later points draw up to 4× more, 0.29 s against 1.2 s; the larger ratio is used).
SHARED_DRAWS_WARM = 0.25
SAMPLE_S3 = 7.4e-11
#: Around a weighted saddle the sample representation forms one S×S inverse (the pooled estimate; the 8 group
#: estimates are on S/8 each): ≈ 1.2 S³ of the jackknife's 2.8 S³ flops.
WEIGHTED_S3 = SAMPLE_S3 * 1.2 / 2.8
#: ... and the dense one streams the pooled and the group draws (2n) through m×m and m×P* contractions: fitted at
#: the teaching preset (P = 20, P* = 300, n = 32768: 1.1 s; 0.8 s at Fig. 2 for the sample representation, S = 2048).
WEIGHTED_DENSE = 3e-10
#: The draws' refinement (the saddle again on 2× the draws, and later χ of a sweep starting there) at the default
#: 1 % target, as a factor on the first pass and its saddle: fitted to the 25-χ four-method sweeps of
#: bench/nonlinear_speed.py (estimate / measured: Fig. 2 erf 0.8, teaching erf 2.1, ReLU 1.8; one cold point at
#: χ = N 1.5–2.0, where no refinement was needed).
WEIGHTED_REFINE = 1.5
SAMPLE_S2P = 5.3e-10
SAMPLE_SP2 = 2.4e-8


def _one_loop_sampled(P, D, Ps, N, act, o):
    """erf/ReLU one loops (and the "nngp"/"renormalised" variants of linear nets, which are closed forms)."""
    variant, chi = o["variant"], float(o["chi"] or N)
    if act.linear:
        # closed forms in C0's eigenbasis, O(P³): measured peak 9.5 P² floats at P = 700 (peak RSS of the call, as
        # tests/test_budget.py measures); the result keeps four P×P arrays (C, δC, the kernel variance, the
        # renormalised kernel's C)
        return 9 * P * P, 4 * P * P + 4 * P + 2 * Ps, 10.0 * P**3 + 2.0 * P * P * D, 20.0 * P * P, 200, {}
    blocks = 10 * _solver_defaults()["loop_block"] * P + 6 * P * P + 2 * Ps * P
    result = 2 * P * P + 6 * P + 4 * Ps
    # the shared quasi-Monte Carlo prior samples (docs/theory.md §12.9) meet the 1 % target with 2^14–2^16 draws
    # (measured at the Fig. 2 preset: erf 16384 (32768 at χ = 1), ReLU up to 65536); an activation is priced by its
    # symmetry like the one of the two it shares (an even part, as ReLU's, needs more)
    samples = (_int_opt(o, "n_samples") if o["n_samples"]
               else _solver_defaults()["renormalised_samples"] * (2 if act.odd else 4))
    # prior samples: the NNGP expansion, the renormalised one loop, and "auto" (which tries the latter first)
    seconds = 0.0 if variant == "perturbative" else samples * (P + TEST_POINT_WEIGHT * Ps) * act.sample_seconds
    if o["warm"]:  # inside a sweep the prior draws of the previous χ are reused (theory.loops.prior_features)
        seconds *= SHARED_DRAWS_WARM
    peak = blocks
    # "auto" goes to the particle saddle where the neuron law is far from the prior (docs/theory.md §12.4), which
    # the data decide: counted from χ ≥ N/4 (measured there for ReLU, and for erf on the Fig.-2 data at χ = N), an
    # upper bound; "perturbative" always does
    from ..theory._defaults import (PARTICLE_SADDLE_SAMPLES, SADDLE_MAX_P, SADDLE_SAMPLES, SAMPLE_ARRAYS,
                                    choose_representation)

    dense = variant == "perturbative" or (variant == "auto" and chi >= 0.25 * N and P <= SADDLE_MAX_P)
    if dense:
        m = P * (P + 1) / 2
        ansatz = o["ansatz"] or ("particles" if variant == "auto" else None)  # auto leaves for the particle saddle
        n_tilted = (_int_opt(o, "n_samples") if o["n_samples"]
                    else PARTICLE_SADDLE_SAMPLES if ansatz == "particles" else SADDLE_SAMPLES)
        solver = _solver_defaults()
        weighted = ansatz == "particles" and P <= solver["weighted_max_p"]
        if weighted:
            # the loop on the weighted saddle's own draws (docs/theory.md §12.10): one pooled and 8 group estimates
            # on a prefix of every group; the draws refined (the saddle solved again on 2×) where the error needs it —
            # priced as WEIGHTED_REFINE times the first pass and its saddle (measured over the 25-χ sweeps)
            from ..theory._defaults import WEIGHTED_LOOP_PER, choose_weighted_representation  # noqa: PLC0415

            groups = solver["weighted_groups"]
            per = {k: min(v, solver["particles"]["n_draws"] // groups) for k, v in WEIGHTED_LOOP_PER.items()}
            how = choose_weighted_representation(P, per, groups) or "samples"
            n_loop = groups * per[how]
            if how == "dense":
                peak = max(peak, DENSE_ARRAYS * m * m + blocks + n_loop * (m + Ps + P))
                seconds += DENSE_M3 * m**3 + WEIGHTED_DENSE * 2 * n_loop * m * (m + Ps)
            else:
                S = float(n_loop)
                peak = max(peak, SAMPLE_ARRAYS * S * S + 4 * S * (P + Ps) + blocks)
                seconds += WEIGHTED_S3 * S**3 + SAMPLE_S2P * S * S * P + SAMPLE_SP2 * S * P * P
        elif choose_representation(P, n_tilted) == "dense":
            # plus the samples' vec(φφᵀ), kept for the jackknife when small enough (loops.cumulants.jackknife_core)
            psi_vec = n_tilted * m if n_tilted * m * 8 <= _solver_defaults()["psi_vec_bytes"] else 0
            peak = max(peak, DENSE_ARRAYS * m * m + blocks + psi_vec)
            seconds += DENSE_M3 * m**3 + n_tilted * (DENSE_SP2 * P * P + DENSE_TEST * P * Ps)
        else:  # the sample representation (or nothing fits: saddle_one_loop refuses n_samples that large)
            S = float(n_tilted)
            peak = max(peak, SAMPLE_ARRAYS * S * S + 4 * S * (P + Ps) + blocks)
            seconds += SAMPLE_S3 * S**3 + SAMPLE_S2P * S * S * (P + Ps) + SAMPLE_SP2 * S * P * P
        if o["tree"] is None:  # the saddle it starts from (a sweep with "tree" shares it: then this is less)
            t_opts = {**_COMMON, **_OPTIONS["tree"], "ansatz": ansatz, "chi": o["chi"]}
            if o["warm"]:  # inside a sweep: warm-started from the previous χ's saddle (docs/theory.md §12.9)
                t_opts["particle_stages"] = _solver_defaults()["warm_stages"]
            t_peak, _, t_flops, t_elems, t_units, _ = _tree_nonlinear(P, D, Ps, N, act, t_opts)
            seconds += _seconds("tree", act, t_flops, t_elems, t_units)
            peak = max(peak, t_peak)
        if weighted and float(o["mc_rtol"] or 0.01) <= 0.02:
            seconds *= WEIGHTED_REFINE
    # express the seconds as elementwise work at the calibrated rate (elem) of the one loop
    return peak, result, 0.0, seconds / RATES["one_loop"]["elem"], 0, {}


def _one_loop(P, D, Ps, N, act, o):
    if not act.linear or o["variant"] in ("nngp", "renormalised"):
        return _one_loop_sampled(P, D, Ps, N, act, o)
    r = min(P, D)
    t_peak, t_res, t_flops, t_elems, t_units, parts = _tree_linear(P, D, Ps, N, dict(o, warm=False,
                                                                                      variant="full"))
    # structured fluctuations (loops.linear.Fluctuations, _gradients, perturbative_core): ~25 live r×r arrays;
    # kernel variance (Fluctuations._variance_series) on the lifted P×P grid: out, T, T∘T and a product (~6 P×P);
    # then δC and C + δC lifted to P×P
    core = 25 * r * r
    var = 6 * P * P if o["kernel_variance"] else 0
    result = t_res + 3 * P * P + 6 * P + 4 * Ps + r * r
    peak = t_res + max(t_peak - t_res, core, var + 2 * r * r) + 2 * P * P
    # kernel variance (loops.linear.Fluctuations._variance_series): ~25 products of (P, r) by (r, P) over its series
    flops = t_flops + 60.0 * r**3 + (50.0 * P * P * r if o["kernel_variance"] else 0.0)
    iters = 1
    if o["variant"] == "self_consistent":
        iters = 10
        flops += iters * 70.0 * r**3
    elems = t_elems + iters * 60 * r * r + (60 * P * P if o["kernel_variance"] else 0)
    return peak, result, flops, elems, t_units + iters * 400, parts


def _quadrature(P, D, Ps, N, act, o):
    r = min(P, D)
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    n = 2 * _int_opt(o, "n_nodes", 101) - 1
    grid = 16001
    # log density on the locating grid (one pass; its maximum normalises the integrand): λ (grid, r), ŷ²/λ and
    # log λ (posterior/quadrature.py); integrate(n): t⊗c, λ, g, p·g, the per-neuron precision and mean (n, r) each
    peak = sv_kept + max(sv_peak - sv_kept, 3 * grid * r, 8 * n * r + n * r)
    result = sv_kept + P + Ps + 2 * r * r
    flops = sv_flops + 2.0 * Ps * D * r + 2.0 * n * r * r
    elems = 4.0 * grid * r + 3 * 14.0 * n * r
    return peak, result, flops, elems, 80, {"row_space": sv_kept * F8}


def _exact(P, D, Ps, N, act, o):
    r = min(P, D)
    B = _int_opt(o, "n_chains", 2)
    sweeps = _int_opt(o, "n_sweeps")
    m1 = min(N - 1, r) + 1
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    # one sweep (posterior/gibbs._Sampler.sweep): T and its normals, the concatenation and Z·S (B, m+1, r), while
    # the previous sweep's Z·S is still held; the Gram matrices A (B, r, r) for small r; the trace (B, n_sweeps)
    batch = B * r * r if r <= 24 else r * r
    sweep_peak = 5 * B * m1 * r + 2 * batch + 6 * B * r
    keep = B * sweeps + B * r + r * r
    out = 2 * B * P + (2 * B * Ps + Ps * r if Ps else 0)
    result = sv_kept + B * sweeps + B * P + B * Ps + P + Ps + r * r
    peak = sv_kept + max(sv_peak - sv_kept, keep + sweep_peak, keep + out)
    per_sweep = B * (2.0 * m1 * r * r + r**3 / 3.0 + 4.0 * m1 * r) + 2.0 * B * m1 * r * r / 4
    flops = sv_flops + sweeps * per_sweep + 2.0 * B * r * (P + Ps) + 2.0 * Ps * D * r
    elems = sweeps * B * (m1 * r * 6 + r * 12)
    units = sweeps * (30 + (0 if r <= 24 else 3 * B))  # numpy calls per sweep; LAPACK calls per chain above r = 24
    return peak, result, flops, elems, units, {"row_space": sv_kept * F8}


def _langevin(P, D, Ps, N, act, o):
    E = _int_opt(o, "ensemble", 2)
    steps = _int_opt(o, "steps")
    burn = min(_int_opt(o, "burn_in", 0), steps - 1) if steps > 1 else 0
    size = 8 if o["dtype"] == "float64" else 4
    s = size / F8  # state and measurements in the chosen dtype; noise always fp32
    linear = act.linear and bool(o["fast_linear"])
    r = min(P, D)
    width = r if linear else D
    state = E * N * width
    # records every thin = round(RECORD_TIME/dt) steps, dt = DT_SAFETY/λ̂, λ̂ ≈ 1 + 2 λ_max(C0)/κ0 at the start
    # (the kernel term and the hidden-weight term of the curvature bound, docs/theory.md §13.3); λ_max(C0)/κ0 is
    # the option lambda_max — unknown: one record per step, the dearest case
    lam = o["lambda_max"]
    cap = max(1, (steps - burn) // 20)  # at least 20 records after burn-in (posterior/langevin.MIN_RECORDS)
    thin = o["thin"] or (max(1, min(int(round(0.25 * (1.0 + 2.0 * float(lam)) / 0.5)), cap)) if lam else 1)
    records = steps // thin + 1
    rec_burn = burn // thin + 1
    if linear:
        sv_peak, sv_kept, sv_flops = _row_space(P, D)
        # V, w (dtype) and ξ, ξ' (fp32 noise) of shape (E, N, r); force temporaries (E, N, r) twice;
        # measurement: K̂, K̂∘SSᵀ, M, L (E, r, r), not all alive at once (~3.5)
        live = state * (2 * s + 2 * 0.5 + 2 * s) + 3.5 * s * E * r * r
        peak = sv_kept + max(sv_peak - sv_kept, int(live))
        step_flops = 8.0 * N * r * E
        meas_flops = E * (2.0 * N * r * r + r**3 / 3.0 + 2.0 * r * r)
        eig_flops = E * 9.0 * r**3
        elems = steps * 6.0 * E * N * r
        flops = sv_flops + steps * step_flops + records * meas_flops + rec_burn * eig_flops
    else:
        sv_kept = 0
        # V, ξ, ξ' (E, N, D); H, φ(H), φ'(H), G (E, N, P); K_V, M, L (E, P, P); test pre-activations (E, N, P*)
        live = state * (2 * s + 1.0) + E * N * P * 5 * s + 4 * s * E * P * P + (3 * s * E * N * Ps if Ps else 0)
        peak = int(live) + P * D + Ps * D
        step_flops = 4.0 * P * D * N * E
        meas_flops = E * (2.0 * N * P * D + 2.0 * N * P * P + P**3 / 3.0) + (2.0 * E * N * Ps * (D + P) if Ps else 0)
        eig_flops = E * 9.0 * P**3
        elems = steps * E * N * (P * 6 + 3 * D)
        flops = steps * step_flops + records * meas_flops + rec_burn * eig_flops
    traces = 2 * records * E
    result = sv_kept + traces + 2 * E * (P + Ps) + 2 * (P + Ps)
    peak = peak + traces + 4 * E * (P + Ps)
    units = steps * 25 + records * 150  # torch calls per step and per record (measurements, host transfers)
    return peak, result, flops, elems, units, {"state": int(state * s * F8)}
