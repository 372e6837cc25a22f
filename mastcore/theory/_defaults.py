"""Solver defaults that the cost model (mastcore/_budget.py) needs as well: defined once here, imported by the
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
#: Prior samples per block of the shared prior samples of the NNGP expansion and the renormalised one loop (a power
#: of 2: a balanced stretch of a Sobol' sequence, prior_features.py), and per block of the sampled cumulants of the
#: saddle one loop (bounds the (block, m) temporaries).
PRIOR_BLOCK = 512
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
