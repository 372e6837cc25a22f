"""One loop around the nonlinear saddle: erf and ReLU networks (docs/theory.md §12.1–§12.2, §12.4).

The kernel's cumulant generating function is estimated on samples of the neuron law at the tree-level saddle —
the Gaussian ansätze of docs/theory.md §9.2–§9.3 (independent draws) or the exact tilted law of §9.4 (MALA
chains started from the particle tree level's particles) — and the one loop is the perturbative expansion of
:mod:`mastcore.theory.loops.cumulants`. The Monte-Carlo error is a delete-one-group jackknife over independent
groups of samples (draws or chains), plus the particle saddle's own error (its batch means, §12.10); samples are
doubled until the standard error of the train mean(y·Δ) — the loop samples' and the particle saddle's together — is at
most ``mc_rtol`` (default 5 %) of the one-loop correction of mean(y·Δ), or the loop samples' part is at most half the
saddle's (more loop samples could not lower the total noticeably), or ``max_samples`` is reached; ``mc_error_large`` is set when the total error is
above ``mc_rtol``. Same seed → same answer.
"""
from __future__ import annotations

import time

import numpy as np

from ..._plumbing.validation import check_data
from ...specs import NetworkSpec
from .. import _defaults
from .._defaults import DENSE_ARRAYS, LOOP_BYTES, SADDLE_MAX_P, SAMPLE_ARRAYS, choose_representation
from .cumulants import VAR_MAX_FLOPS, SymBasis, jackknife_core, sample_jackknife_core
from ..tree.neuron_law import FeatureSamples, law_problem, sample_gaussian, sample_tilted
from ..tree.level import nonlinear_tree_level
from ..tree.nonlinear import DEFAULT_ANSATZ, NonlinearTreeResult
from .result import LOOP_TO_TREE_MAX, LoopFlags, NonlinearOneLoopResult, monte_carlo_settings

__all__ = ["LOOP_BYTES", "MC_RTOL", "NonlinearOneLoopResult", "SADDLE_MAX_P", "jackknife_se",
           "choose_representation", "saddle_one_loop"]

#: Default target of the Monte-Carlo error: s.e. of train mean(y·Δ) ≤ MC_RTOL × |one-loop correction of it|.
MC_RTOL = 0.05
#: Default first sample size (docs/theory.md §12.10; theory/_defaults.py) and cap (samples are doubled in between);
#: jackknife groups.
N_SAMPLES = _defaults.SADDLE_SAMPLES
PARTICLE_SAMPLES = _defaults.PARTICLE_SADDLE_SAMPLES
#: The loop samples stop doubling once their s.e. is at most this fraction of the particle saddle's (the total is
#: then at most √(1 + 0.5²) = 1.12× the saddle's part; docs/theory.md §12.10).
SADDLE_SHARE = 0.5
MAX_SAMPLES = 160000
N_GROUPS = 8


def jackknife_se(full, reps):
    """Jackknife standard error (per entry) and pseudo-values (G, …) of an estimate from its replicates."""
    reps = np.asarray(reps)
    G = reps.shape[0]
    se = np.sqrt((G - 1) / G * np.sum((reps - reps.mean(0)) ** 2, axis=0))
    pseudo = G * np.asarray(full)[None] - (G - 1) * reps
    return se, pseudo


def _draw(ansatz, pb, spec, y, tree, n, rng, with_test, first):
    """Samples of the saddle's neuron law. The first batch of tilted samples starts its chains from the particle tree
    level's particles (short burn-in); later batches from the Gaussian with a full burn-in, so that every batch's
    chains are independent of the earlier ones (their groups enter the jackknife as independent)."""
    mean, cov = tree._mean_row, tree._cov_row
    if ansatz == "particles":
        return sample_tilted(pb, spec, y, tree.C, n, rng, mean=mean, cov=cov, with_test=with_test,
                             start=getattr(tree, "_particles", None) if first else None)
    return sample_gaussian(pb, spec.activation, n, rng, mean=mean, cov=cov, with_test=with_test)


def with_saddle_error(pseudo, blocks):
    """Jackknife pseudo-values (G, n) of the loop with the saddle's Monte-Carlo error added: the B batch-mean
    predictions of the particle tree level (B, n) or None (a deterministic saddle). Group g gets
    c·(f_b − f̄) with b = g mod B and c² = (G − 1)/(B − 1), so that the pseudo-values' variance over groups, divided by
    G, is in expectation the loop's plus the saddle's squared s.e. (the two are independent; docs/theory.md §12.10)."""
    if blocks is None or len(blocks) < 2 or pseudo is None:
        return pseudo
    G, B = len(pseudo), len(blocks)
    dev = np.asarray(blocks) - np.mean(blocks, axis=0)
    return pseudo + np.sqrt((G - 1) / (B - 1)) * dev[np.arange(G) % B]


def _saddle_se(y, blocks) -> float:
    """The particle saddle's Monte-Carlo s.e. of train mean(y·Δ) from its B batch-mean predictions (B, P), or 0."""
    if blocks is None or len(blocks) < 2:
        return 0.0
    myd = np.mean(y * (y - np.asarray(blocks)), axis=1)
    return float(np.std(myd, ddof=1) / np.sqrt(len(myd)))


def _sample_cap(P: int, how: str, max_samples: int) -> int:
    """The most samples the loop's operators can hold in LOOP_BYTES in representation ``how`` ("auto", "samples",
    "dense")."""
    m = P * (P + 1) // 2
    dense = DENSE_ARRAYS * 8.0 * m * m <= LOOP_BYTES
    if how == "dense" or (how == "auto" and dense):
        return max_samples if dense else 0
    return int(np.sqrt(LOOP_BYTES / (8.0 * SAMPLE_ARRAYS)))


def _concat(a, b):
    if a is None:
        return b
    off = a.group.max() + 1
    test = None if a.phi_test is None else np.vstack([a.phi_test, b.phi_test])
    return FeatureSamples(np.vstack([a.phi, b.phi]), test,
                          np.concatenate([a.group, b.group + off]))


def saddle_one_loop(X, y, spec: NetworkSpec, X_test=None, *, ansatz: str | None = None, tree=None,
                    n_samples: int | None = None, max_samples: int = MAX_SAMPLES, mc_rtol: float = MC_RTOL,
                    seed: int = 0, strict: bool = False, progress=None, kernel_variance: bool | None = None,
                    representation: str = "auto") -> NonlinearOneLoopResult:
    """Perturbative one loop around the erf/ReLU saddle from sampled cumulants (docs/theory.md §12.2).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec (any activation; used for erf/ReLU).
    ansatz : neuron law of the saddle, "gaussian", "gaussian_mean" or "particles" (default: the tree level's default
        for the activation); tree : a NonlinearTreeResult at the same spec and data to start from (solved if None).
    n_samples, max_samples : first (default: N_SAMPLES, PARTICLE_SAMPLES around the particle saddle) and largest
        number of samples; mc_rtol : target of the Monte-Carlo error (module
        docstring); seed : seed of the numpy Generator that draws the samples.
    progress : callable(done, total, info) or None (called after each sample size).
    kernel_variance : whether to form the (P, P) Var(δC_ij): None (default) when it costs at most VAR_MAX_FLOPS in
        the sample representation (2 S² P² flops; always in the dense one), else ``kernel_variance`` is None.
    representation : of the loop's operators, "auto" (default: :func:`choose_representation`), "samples" or "dense"
        — the same estimator either way (docs/theory.md §12.10); the sample size is capped at what it fits in
        LOOP_BYTES.

    Returns
    -------
    NonlinearOneLoopResult (method "one_loop", variant "perturbative").
    """
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    if P > SADDLE_MAX_P:
        raise ValueError(f"the saddle one loop for erf/ReLU is measured up to P = {SADDLE_MAX_P}; 'X' must have at "
                         f"most {SADDLE_MAX_P} rows; got {P}: use variant='renormalised' or fewer train points")
    if representation not in ("auto", "samples", "dense"):
        raise ValueError(f"'representation' must be 'auto', 'samples' or 'dense'; got {representation!r}")
    ansatz = DEFAULT_ANSATZ[spec.activation] if ansatz is None else ansatz
    if tree is not None and (not isinstance(tree, NonlinearTreeResult) or tree.spec != spec
                             or tree.C.shape != (P, P)):
        raise ValueError("'tree' must be a NonlinearTreeResult (mc.tree_level) at the same spec and data; got "
                         f"{type(tree).__name__}")
    ansatz = ansatz if tree is None else tree.ansatz
    if n_samples is None:
        n_samples = PARTICLE_SAMPLES if ansatz == "particles" else N_SAMPLES
    n_samples, max_samples, mc_rtol, seed = monte_carlo_settings(n_samples, max_samples, mc_rtol, seed, groups=N_GROUPS)
    if tree is None:
        tree = nonlinear_tree_level(X, y, spec, X_test, ansatz=ansatz, strict=strict)
    t_tree = time.perf_counter()
    rng = np.random.default_rng(seed)
    pb = law_problem(X, spec, X_test)
    basis = None
    with_test = tree.f_test is not None
    cap = _sample_cap(P, representation, max_samples)
    if cap < n_samples:
        raise ValueError(f"'n_samples' = {n_samples} samples do not fit the loop's memory ({LOOP_BYTES / 2**30:.0f} "
                         f"GiB) at P = {P} with representation {representation!r}; at most {cap}")
    max_samples = min(max_samples, cap)
    samples, n = None, n_samples
    saddle_se = _saddle_se(y, getattr(tree, "_f_blocks", None))
    while True:
        need = n - (0 if samples is None else samples.n)
        samples = _concat(samples, _draw(ansatz, pb, spec, y, tree, need, rng, with_test, samples is None))
        # the test–train kernel of the law, estimated on the same samples; only its loop corrections are used
        # (the tree part of f_test is the tree level's own), so its Monte-Carlo error enters at loop order
        C_test = spec.g_w * samples.phi_test.T @ samples.phi / samples.n if with_test else None
        how = choose_representation(P, samples.n) if representation == "auto" else representation
        if how == "samples":
            var = (2.0 * samples.n**2 * P * P <= VAR_MAX_FLOPS) if kernel_variance is None else bool(kernel_variance)
            full, reps, G = sample_jackknife_core(tree.C, y, spec.chi, spec.kappa0, samples, spec.g_w, spec.width,
                                                  C_test=C_test, n_groups=N_GROUPS, variance=var)
        else:
            basis = basis or SymBasis(P)
            full, reps, G = jackknife_core(basis, tree.C, y, spec.chi, spec.kappa0, samples, spec.g_w, spec.width,
                                           C_test=C_test, n_groups=N_GROUPS)
            if kernel_variance is False:
                full["var"] = None
        corr = full["delta_shift"] + full["delta_fluct"]
        f_full = y - (full["delta_tree"] + corr)
        f_reps = np.array([y - (r["delta_tree"] + r["delta_shift"] + r["delta_fluct"]) for r in reps])
        se_tr, pseudo_tr = jackknife_se(f_full, f_reps)
        myd = lambda f: float(np.mean(y * (y - f)))  # noqa: E731
        mc_se = float(jackknife_se(myd(f_full), [myd(f) for f in f_reps])[0])
        corr_myd = float(np.mean(y * corr))
        # the total with the saddle's own error (independent of the loop samples' error, docs/theory.md §12.10)
        ratio = float(np.hypot(mc_se, saddle_se)) / max(abs(corr_myd), np.finfo(float).tiny)
        if progress is not None:
            progress(samples.n, max_samples, {"samples": samples.n, "mc_ratio": ratio})
        if ratio <= mc_rtol or mc_se <= SADDLE_SHARE * saddle_se or n >= max_samples:
            break
        n = min(2 * n, max_samples)
        if n <= samples.n:
            break
    se_te = pseudo_te = f_test = None
    if with_test:
        base = C_test @ full["a"]
        f_test = tree.f_test + (full["f_test"] - base)
        ft_reps = np.array([tree.f_test + (r["f_test"] - C_test @ r["a"]) for r in reps])
        se_te, pseudo_te = jackknife_se(f_test, ft_reps)
    # the particle saddle's own Monte-Carlo error (its batch means, docs/theory.md §12.10) on top of the loop's
    loop_se = mc_se
    pseudo_tr = with_saddle_error(pseudo_tr, getattr(tree, "_f_blocks", None))
    if pseudo_te is not None:
        pseudo_te = with_saddle_error(pseudo_te, getattr(tree, "_ft_blocks", None))
        se_te = pseudo_te.std(0, ddof=1) / np.sqrt(len(pseudo_te))
    se_tr = pseudo_tr.std(0, ddof=1) / np.sqrt(len(pseudo_tr))
    mc_se = float(np.std(np.mean(y * (y - pseudo_tr), axis=1), ddof=1) / np.sqrt(len(pseudo_tr)))
    ratio = mc_se / max(abs(corr_myd), np.finfo(float).tiny)
    delta = full["delta_tree"] + corr
    loop_ratio = float(np.linalg.norm(corr) / max(np.linalg.norm(full["delta_tree"]), np.finfo(float).tiny))
    checks = LoopFlags()
    positive = bool(full["min_eig"] > -1e-10)
    if not positive:
        checks.add("M_not_positive_definite", f"the kernel covariance G_CC has a negative eigenvalue "
                   f"({full['min_eig']:.2e} of its largest): the Gaussian (one-loop) integral is undefined here",
                   severe=True)
    checks.width(spec.width, P, unit="train points P", detail="the loop expansion in P/N breaks down")
    checks.loop(loop_ratio, LOOP_TO_TREE_MAX, f"the one-loop correction is {loop_ratio:.2f}× the tree-level "
                f"discrepancy (> {LOOP_TO_TREE_MAX})")
    saddle_part = float(np.sqrt(max(mc_se**2 - loop_se**2, 0.0)))
    knobs = ("n_draws" if np.isfinite(getattr(tree, "ess", np.nan))  # weighted draws, else MALA chains (§9.4)
             else "n_particles or outer_final")
    remedy = ("raise 'max_samples'" if loop_se >= saddle_part else
              f"most of it is the particle saddle's: raise its {knobs} (mc.tree_level)")
    checks.monte_carlo(ratio, mc_rtol, f"Monte-Carlo error {mc_se:.2e} is {100 * ratio:.0f} % of the one-loop "
                       f"correction (loop samples {loop_se:.1e} after {samples.n} samples, saddle ≈ {saddle_part:.1e}; "
                       f"target {100 * mc_rtol:.0f} %); {remedy}")
    checks.saddle(tree.converged)
    flags, message = checks.close(f"one loop at chi={spec.chi:g}, N={spec.width}")
    return NonlinearOneLoopResult(
        f_train=y - delta,
        f_test=f_test,
        se_train=se_tr,
        se_test=se_te,
        delta=delta,
        delta_tree=full["delta_tree"],
        delta_shift=full["delta_shift"],
        delta_fluct=full["delta_fluct"],
        delta_shift_test=full["delta_shift_test"],
        delta_fluct_test=full["delta_fluct_test"],
        delta_C=full["dC"],
        C=tree.C + full["dC"],
        kernel_variance=full["var"],
        tree=tree,
        spec=spec,
        variant="perturbative",
        converged=bool(tree.converged),
        n_iter=int(tree.n_iter),
        residual=float(tree.residual),
        positive_definite=positive,
        loop_ratio=loop_ratio,
        flags=flags,
        message=message,
        seconds=time.perf_counter() - t0,
        timings=dict(tree=t_tree - t0, fluctuations=time.perf_counter() - t_tree),
        ansatz=ansatz,
        n_samples=int(samples.n),
        seed=seed,
        mc_se=mc_se,
        mc_ratio=float(ratio),
        chain_f_train=pseudo_tr,
        chain_f_test=pseudo_te,
    )

