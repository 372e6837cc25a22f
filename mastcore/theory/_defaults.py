"""Solver defaults that the cost model (mastcore/_plumbing/budget.py) needs as well: defined once here, imported by the
solvers and read by the estimates. This module imports nothing of the package (no import cycle through the
solvers' decorator, which checks the budget)."""
from __future__ import annotations

#: Number of χ stages when annealing the erf/ReLU Gaussian tree level from the NNGP (χ = 1) to χ = N
#: (docs/theory.md §9: ~20).
ANNEAL_STAGES = 20
#: Particle tree level (docs/theory.md §9.4): particles, χ stages, outer iterations per stage / in the final
#: averaging stage, MALA steps per outer iteration.
N_PARTICLES = 4000
PARTICLE_STAGES = 10
OUTER_PER_STAGE = 6
OUTER_FINAL = 40
MCMC_STEPS = 4
#: The particle saddle by weighted quasi-Monte Carlo draws (docs/theory.md §9.4, tree/weighted.py): draws and their
#: independent scrambled Sobol' groups (the error bar). At χ = N, erf, 32768 draws gave a spread of train mean(y·Δ)
#: over seeds of 5e-6 (teaching) and 3e-6 (Fig. 2): 1 % of the loop correction, 20–50× below the MALA particles'.
WEIGHTED_DRAWS = 32768
WEIGHTED_GROUPS = 8
#: Above this many train points the particle saddle uses the MALA chains: on the digits (P = 300, χ = N) the
#: Gaussian proposal alone took 29 s (its damped and Newton–Krylov solves did not converge) and the weights stayed
#: degenerate (ESS < 2 % of the draws after two refits; 470 s lost before the fallback), where the chains take ~30 s.
WEIGHTED_MAX_P = 160
#: Prior samples per block of the shared prior samples of the NNGP expansion and the renormalised one loop (a power
#: of 2: a balanced stretch of a Sobol' sequence, prior_features.py), and per block of the sampled cumulants of the
#: saddle one loop (bounds the (block, m) temporaries).
PRIOR_BLOCK = 512
#: scipy's Sobol' direction numbers cover this many dimensions (beyond: pseudo-random draws; the shared prior
#: samples and the weighted particle saddle).
SOBOL_MAX_DIM = 21201
CUMULANT_BLOCK = 4096
#: The one loop around a saddle (erf/ReLU): first number of tilted samples (doubled up to its cap while the
#: Monte-Carlo error is above target), and the largest (S, m) array of the samples' vec(φφᵀ) kept for its jackknife
#: (above it they are recomputed per replicate).
TILTED_SAMPLES = 8000
PSI_VEC_BYTES = 256 * 2**20
#: The renormalised one loop's prior samples for its non-Gaussian term: first and largest number (doubled in
#: between while the Monte-Carlo error is above target).
RENORMALISED_SAMPLES = 16000
RENORMALISED_MAX_SAMPLES = 800000
#: Prior samples of the band companion of erf/ReLU theories (mastcore.theory.bands.COMPANION_SAMPLES, which the
#: budget prices: tests/test_budget.py checks that the two agree).
COMPANION_SAMPLES = 8000

#: Largest P of the one loop around the particle saddle: the sample representation (docs/theory.md §12.10) has
#: no m×m operator; its cost is O(S³ + S² P) and its memory O(S²) in the number of samples S, and the particle tree
#: level it starts from and the (S, P) features grow with P (measured at P = 300 in bench/large_p.py).
SADDLE_MAX_P = 300
#: Bytes the loop's operators may take: ≈ 15 m² floats dense (m = P(P+1)/2), SAMPLE_ARRAYS·S² floats in the
#: sample representation; the sample size is not raised beyond what fits (then ``mc_error_large`` says so).
LOOP_BYTES = 3 * 2**30
#: Live m×m float64 arrays of the dense representation (loops.cumulants.cumulant_core and the jackknife's grams).
DENSE_ARRAYS = 15
#: Live S×S float64 arrays of the sample representation (K_R, A → M, one product; mastcore/_plumbing/costs.py uses it).
SAMPLE_ARRAYS = 4
#: The saddle one loop's first sample size (doubled while the Monte-Carlo error is above its target). The sample
#: representation costs O(S³) (docs/theory.md §12.10): at the Fig. 2 preset S = 2000 takes 3 s where 4000 took 9 s,
#: with mc_ratio 0.02–0.04 (4000: 0.02–0.03) — far below the loop's own error band (2·(P/N)·|loop correction|,
#: docs/theory.md §19.1) and below the particle tree level's Monte-Carlo error at the same points (§12.10).
SADDLE_SAMPLES = TILTED_SAMPLES // 4
#: Around the particle saddle (docs/theory.md §9.4) the loop starts at half that and doubles while the total error
#: (loop samples and saddle) is above its target: at 1000 samples the loop samples' part is 2.5–5 % of the loop
#: correction at χ ≥ N/4 (Fig. 2 and teaching, erf and ReLU), the saddle's (weighted draws) ≈ 1 %; the means at 1000
#: and 2000 samples differ by ≤ 0.1 s.e. (4–6 seeds); 2000 samples cost 2.3× the time (Fig. 2: 3.4 s against 1.5 s).
PARTICLE_SADDLE_SAMPLES = SADDLE_SAMPLES // 2
#: χ stages of a saddle warm-started from a nearby χ's law inside a sweep (the cold solve anneals from the NNGP in
#: ANNEAL_STAGES or PARTICLE_STAGES; docs/theory.md §12.9).
WARM_STAGES = 2
#: The particle tree level accumulates its test kernel every KS_EVERY-th iteration of the averaging window
#: (consecutive iterations are strongly correlated; each accumulation costs M × P* features, §9.4).
KS_EVERY = 8


def choose_representation(P: int, S: int) -> str | None:
    """The cheaper of the two exact representations of the loop's operators that fits in LOOP_BYTES, or None:
    "dense" (m×m, m = P(P+1)/2; ≈ 9 (5 m³ + 2 S m²) flops for a jackknife of 8 groups) or "samples" (S×S;
    ≈ 2.8 S³ + 20 S² P flops), docs/theory.md §12.10."""
    m = P * (P + 1) // 2
    fits = {"dense": DENSE_ARRAYS * 8.0 * m * m <= LOOP_BYTES, "samples": SAMPLE_ARRAYS * 8.0 * S * S <= LOOP_BYTES}
    cost = {"dense": 9.0 * (5.0 * m**3 + 2.0 * S * m * m), "samples": 2.8 * float(S) ** 3 + 20.0 * float(S) ** 2 * P}
    ok = [k for k in ("samples", "dense") if fits[k]]
    return min(ok, key=cost.get) if ok else None


#: Around a weighted particle saddle (docs/theory.md §9.4, §12.10) the loop's cumulants are the saddle's own draws
#: with their weights: the first WEIGHTED_LOOP_PER[rep] of every group (a power-of-2 prefix of its scrambled Sobol'
#: sequence) in the dense or the sample representation. While the error is above its target the part that dominates
#: is refined: the saddle solved again on 2× the draws (at most WEIGHTED_MAX_DRAWS), or the loop given more of the
#: draws, at most WEIGHTED_LOOP_MAX_PER of every group (dense: the prefix doubled; samples: one more stretch of
#: WEIGHTED_LOOP_PER["samples"] draws, whose loop is averaged with the others' — linear in the stretches where a
#: doubled prefix costs 8×: measured at the Fig. 2 preset, χ = 56, 0.8 s per stretch against 4.4 s for a prefix of 512).
#: Measured at χ = N, 32768 draws: the loop's part 0.2–1 % of the loop correction at 4096 draws per group (teaching,
#: dense), 0.3–0.8 % at 256 (Fig. 2, samples).
WEIGHTED_LOOP_PER = {"dense": 4096, "samples": 256}
WEIGHTED_LOOP_MAX_PER = {"samples": 1024}
WEIGHTED_MAX_DRAWS = 2**19


def choose_weighted_representation(P: int, per: dict, groups: int) -> str | None:
    """The cheaper representation of the loop on weighted draws that fits in LOOP_BYTES, or None: "dense" on the
    first per["dense"] of every group (n = groups·per; ≈ 45 m³ + 3 n m² flops: the pooled and the group cumulants
    and their 9 solves) or "samples" on the first per["samples"] (S = groups·per; ≈ 1.2 S³ + 20 S² P),
    docs/theory.md §12.10."""
    m = P * (P + 1) // 2
    n, S = groups * per["dense"], groups * per["samples"]
    fits = {"dense": DENSE_ARRAYS * 8.0 * m * m <= LOOP_BYTES, "samples": SAMPLE_ARRAYS * 8.0 * S * S <= LOOP_BYTES}
    cost = {"dense": 45.0 * m**3 + 3.0 * n * m * m, "samples": 1.2 * float(S) ** 3 + 20.0 * float(S) ** 2 * P}
    ok = [k for k in ("samples", "dense") if fits[k]]
    return min(ok, key=cost.get) if ok else None
