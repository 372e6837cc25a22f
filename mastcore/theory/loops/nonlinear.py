"""One loop around the nonlinear saddle: erf and ReLU networks (docs/theory.md §12.1–§12.2, §12.4, §12.11).

The kernel's cumulant generating function is estimated on samples of the neuron law at the tree-level saddle, and the
one loop is the perturbative expansion of :mod:`mastcore.theory.loops.cumulants`. Two estimators:

* around a particle saddle solved on weighted quasi-Monte Carlo draws (docs/theory.md §9.4; P ≤ 160) the loop runs on
  the saddle's own draws and weights (§12.11): the pooled estimate, and one per scrambled group at that group's own
  fixed point, whose spread is the Monte-Carlo error of saddle and loop together; while it is above ``mc_rtol``
  (default 1 %) of the one-loop correction of train mean(y·Δ) the saddle is solved again on twice the draws or the
  loop's prefix of them doubled;
* otherwise (the Gaussian ansätze of §9.2–§9.3, independent draws; MALA chains of the tilted law, started from the
  particle tree level's particles) on fresh samples: the error is a delete-one-group jackknife over independent
  groups of samples plus the particle saddle's own error (its batch means, §12.10); samples are doubled until the
  total is at most ``mc_rtol`` of the correction, or the loop samples' part is at most half the saddle's (more loop
  samples could not lower the total noticeably), or ``max_samples`` is reached.

``mc_error_large`` is set when the total error is above ``mc_rtol``. Same seed → same answer.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from ..._plumbing.threads import serial
from ..._plumbing.validation import check_data
from ...specs import NetworkSpec
from .. import _defaults
from .._defaults import DENSE_ARRAYS, LOOP_BYTES, SADDLE_MAX_P, SAMPLE_ARRAYS, choose_representation
from .cumulants import (VAR_MAX_FLOPS, SampleCumulants, SampleLoop, SymBasis, cumulant_core, jackknife_core,
                        psi_vectors, sample_jackknife_core)
from ..kernels.gaussian_law import fast_activation_fn, smoothed_features
from ..tree.neuron_law import FeatureSamples, law_problem, sample_gaussian, sample_tilted
from ..tree.level import nonlinear_tree_level
from ..tree.nonlinear import DEFAULT_ANSATZ, NonlinearTreeResult
from ..tree.weighted import law_weights
from .result import LOOP_TO_TREE_MAX, LoopFlags, NonlinearOneLoopResult, monte_carlo_settings

__all__ = ["LOOP_BYTES", "MC_RTOL", "NonlinearOneLoopResult", "SADDLE_MAX_P", "jackknife_se",
           "choose_representation", "saddle_one_loop"]

#: Default target of the Monte-Carlo error: s.e. of train mean(y·Δ) ≤ MC_RTOL × |one-loop correction of it| (the
#: renormalised one loop's and the NNGP expansion's target too; 5 % until the weighted draws of §12.11 made 1 % affordable).
MC_RTOL = 0.01
#: Default first sample size (docs/theory.md §12.10; theory/_defaults.py) and cap (samples are doubled in between);
#: jackknife groups.
N_SAMPLES = _defaults.SADDLE_SAMPLES
PARTICLE_SAMPLES = _defaults.PARTICLE_SADDLE_SAMPLES
#: The loop samples stop doubling once their s.e. is at most this fraction of the particle saddle's (the total is
#: then at most √(1 + 0.5²) = 1.12× the saddle's part; docs/theory.md §12.10).
SADDLE_SHARE = 0.5
MAX_SAMPLES = 160000
#: Around a weighted saddle, the kernel variance of the sample representation (2 S² P² flops) is formed by default
#: only up to this (0.3 s): at the Fig. 2 preset (S = 2048, P = 80: 5e10) it took 60 % of each χ point of a sweep.
WEIGHTED_VAR_FLOPS = 1e10
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


def _myd_se(y, rows) -> float:
    """s.e. of train mean(y·Δ) from B independent predictions or pseudo-values (B, P): their spread over √B."""
    myd = np.mean(y * (y - np.asarray(rows)), axis=1)
    return float(np.std(myd, ddof=1) / np.sqrt(len(myd)))


def _saddle_se(y, blocks) -> float:
    """The particle saddle's Monte-Carlo s.e. of train mean(y·Δ) from its B batch-mean predictions (B, P), or 0."""
    return 0.0 if blocks is None or len(blocks) < 2 else _myd_se(y, blocks)


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
    n_samples, max_samples : first (default: N_SAMPLES, PARTICLE_SAMPLES around a MALA particle saddle) and largest
        number of fresh samples; around a weighted particle saddle (``tree._draws``) the loop uses the saddle's own
        draws instead and these do not apply (its draws are refined, module docstring; mc.tree_level(...,
        estimator="mala") gives a saddle with fresh samples). mc_rtol : target of the Monte-Carlo error (module
        docstring, default MC_RTOL = 1 %); seed : seed of the numpy Generator that draws the samples.
    progress : callable(done, total, info) or None (called after each sample size, or each pass over the draws:
        done = draws, info with "samples", "draws", "mc_ratio" and its loop and saddle parts).
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
    pb = law_problem(X, spec, X_test)
    with_test = tree.f_test is not None
    if getattr(tree, "_draws", None) is not None:
        est = _weighted_loop(X, y, spec, X_test, pb, tree, with_test, mc_rtol=mc_rtol, seed=seed, strict=strict,
                             progress=progress, kernel_variance=kernel_variance, representation=representation)
    else:
        est = _sampled_loop(y, spec, pb, tree, ansatz, with_test, n_samples=n_samples, max_samples=max_samples,
                            mc_rtol=mc_rtol, seed=seed, progress=progress, kernel_variance=kernel_variance,
                            representation=representation)
    tree, full, corr = est.tree, est.full, est.full["delta_shift"] + est.full["delta_fluct"]
    pseudo_tr, pseudo_te = est.pseudo_tr, est.pseudo_te
    f_test = None if pseudo_te is None else est.f_test
    se_tr = pseudo_tr.std(0, ddof=1) / np.sqrt(len(pseudo_tr))
    se_te = None if pseudo_te is None else pseudo_te.std(0, ddof=1) / np.sqrt(len(pseudo_te))
    mc_se = _myd_se(y, pseudo_tr)
    corr_myd = float(np.mean(y * corr))
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
    loop_se, saddle_part = est.loop_se, est.saddle_se
    if getattr(tree, "_draws", None) is not None:
        knobs = "'n_draws' (mc.tree_level)"
        at = f"{est.n_samples} of the saddle's {tree._draws.n} weighted draws"
    else:
        knobs = ("'n_draws' (mc.tree_level)" if np.isfinite(getattr(tree, "ess", np.nan))  # MALA chains otherwise
                 else "'n_particles' or 'outer_final' (mc.tree_level)")
        at = f"{est.n_samples} samples"
    remedy = ("raise 'max_samples'" if loop_se >= saddle_part and getattr(tree, "_draws", None) is None else
              f"most of it is the particle saddle's: raise its {knobs}" if loop_se < saddle_part else
              f"raise the saddle's {knobs}")
    checks.monte_carlo(ratio, mc_rtol, f"Monte-Carlo error {mc_se:.2e} is {100 * ratio:.0f} % of the one-loop "
                       f"correction (loop {loop_se:.1e} with {at}, saddle ≈ {saddle_part:.1e}; "
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
        n_samples=int(est.n_samples),
        seed=seed,
        mc_se=mc_se,
        mc_ratio=float(ratio),
        chain_f_train=pseudo_tr,
        chain_f_test=pseudo_te,
    )


@dataclasses.dataclass
class _Estimate:
    """What either estimator hands to :func:`saddle_one_loop`: the pooled core dict, the (G, P) and (G, P*) pseudo-
    values of f (their spread over √G is the total Monte-Carlo error), the test prediction, the parts of the error of
    train mean(y·Δ) from the loop's samples and from the saddle, the samples used and the (possibly refined) saddle."""

    full: dict
    pseudo_tr: np.ndarray
    pseudo_te: np.ndarray | None
    f_test: np.ndarray | None
    loop_se: float
    saddle_se: float
    n_samples: int
    tree: NonlinearTreeResult


def _sampled_loop(y, spec, pb, tree, ansatz, with_test, *, n_samples, max_samples, mc_rtol, seed, progress,
                  kernel_variance, representation) -> _Estimate:
    """The loop on fresh samples of the saddle's law (Gaussian draws or MALA chains), doubled until the total error
    meets ``mc_rtol`` (module docstring); the jackknife over groups of samples plus the saddle's batch means."""
    P = pb.Z.shape[0]
    rng = np.random.default_rng(seed)
    basis = None
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
    pseudo_te = f_test = None
    if with_test:
        base = C_test @ full["a"]
        f_test = tree.f_test + (full["f_test"] - base)
        ft_reps = np.array([tree.f_test + (r["f_test"] - C_test @ r["a"]) for r in reps])
        pseudo_te = with_saddle_error(jackknife_se(f_test, ft_reps)[1], getattr(tree, "_ft_blocks", None))
    # the particle saddle's own Monte-Carlo error (its batch means, docs/theory.md §12.10) on top of the loop's
    pseudo_tr = with_saddle_error(pseudo_tr, getattr(tree, "_f_blocks", None))
    return _Estimate(full, pseudo_tr, pseudo_te, f_test, mc_se, saddle_se, samples.n, tree)


def _weighted_loop(X, y, spec, X_test, pb, tree, with_test, *, mc_rtol, seed, strict, progress, kernel_variance,
                   representation) -> _Estimate:
    """The loop around a weighted particle saddle on the saddle's own draws and weights (docs/theory.md §12.11):
    the pooled estimate at the pooled C, and one estimate per scrambled group at that group's own fixed point C_g,
    whose spread is the total Monte-Carlo error of saddle and loop together (randomised QMC). While it is above
    ``mc_rtol`` of the loop correction, the saddle is solved again on 2× the draws (warm: its own law proposes them)
    where its part is the larger, else the loop takes more of the draws — in the dense form a doubled prefix of every
    group, in the sample form (cost O(S³)) one more stretch of WEIGHTED_LOOP_PER draws of every group, its loop
    averaged with the earlier stretches' — up to WEIGHTED_MAX_DRAWS, WEIGHTED_LOOP_MAX_PER and LOOP_BYTES."""
    P = pb.Z.shape[0]
    step, stretches, done = 0, 1, {}
    while True:
        d = tree._draws
        full_per = d.n // d.groups
        prefix = {k: min(full_per, first * 2**step) for k, first in _defaults.WEIGHTED_LOOP_PER.items()}
        how = (_defaults.choose_weighted_representation(P, prefix, d.groups) if representation == "auto"
               else representation) or "samples"
        per = prefix[how]
        while how == "samples" and SAMPLE_ARRAYS * 8.0 * (d.groups * per) ** 2 > LOOP_BYTES and per > 1:
            per //= 2
        stretches = min(stretches, max(1, full_per // per)) if how == "samples" else 1
        # dense: many small operations, one thread each (_plumbing/threads.serial); samples: large BLAS calls
        with serial() if how == "dense" else contextlib.nullcontext():
            est = _weighted_estimate(y, spec, pb, tree, with_test, how=how, per=per, seed=seed,
                                     kernel_variance=kernel_variance, stretches=stretches, done=done)
        corr_myd = abs(float(np.mean(y * (est.full["delta_shift"] + est.full["delta_fluct"]))))
        target = mc_rtol * max(corr_myd, np.finfo(float).tiny)
        total = _myd_se(y, est.pseudo_tr)
        if progress is not None:
            progress(d.n, _defaults.WEIGHTED_MAX_DRAWS, {"samples": est.n_samples, "draws": d.n,
                                                         "mc_ratio": total / target * mc_rtol,
                                                         "loop_ratio": est.loop_se / target * mc_rtol,
                                                         "saddle_ratio": est.saddle_se / target * mc_rtol})
        # refine the larger part (or both when each alone is above half the target): the saddle's draws, or the
        # loop's share of them (the saddle's own draws: the share grows up to all of them, then the draws grow)
        saddle_high = est.saddle_se >= est.loop_se or est.saddle_se**2 > 0.5 * target**2
        loop_high = est.loop_se >= est.saddle_se or est.loop_se**2 > 0.5 * target**2
        cap = min(full_per, _defaults.WEIGHTED_LOOP_MAX_PER.get(how, full_per))
        if how == "samples":
            grow_loop = loop_high and (stretches + 1) * per <= cap
        else:
            grow_loop = loop_high and per < cap
        # (with the loop's share at its cap, more draws still lower the saddle's part of the total)
        grow_draws = 2 * d.n <= _defaults.WEIGHTED_MAX_DRAWS and (
            saddle_high or (loop_high and not grow_loop and (per * stretches >= full_per or est.loop_se < target)))
        if total <= target or not (grow_draws or grow_loop):
            return est
        if grow_draws:
            refined = nonlinear_tree_level(X, y, spec, X_test, ansatz="particles", init=tree, n_draws=2 * d.n,
                                           seed=d.seed, strict=strict)
            if getattr(refined, "_draws", None) is None:  # its weights degenerated: keep what we have
                return est
            tree, done = refined, {}
        if grow_loop:
            if how == "samples":
                stretches += 1
            else:
                step += 1


def _mean_core(outs: list) -> dict:
    """The loop's core dict averaged over stretches of draws (arrays and numbers; None stays None; the smallest
    ``min_eig`` and whether every stretch was positive definite)."""
    if len(outs) == 1:
        return outs[0]
    out = {}
    for k, v in outs[0].items():
        vals = [o[k] for o in outs]
        if v is None or any(x is None for x in vals):
            out[k] = None
        elif k == "min_eig":
            out[k] = float(np.min(vals))
        elif isinstance(v, (bool, np.bool_)):
            out[k] = bool(all(vals))
        else:
            out[k] = np.mean(np.asarray(vals, dtype=np.float64), axis=0)
    return out


def _weighted_estimate(y, spec, pb, tree, with_test, *, how, per, seed, kernel_variance, stretches=1, done=None):
    """One pass of :func:`_weighted_loop` on ``stretches`` stretches of ``per`` draws of every group (points
    [k·per, (k+1)·per) of each group's scrambled Sobol' sequence: again a scrambled net, docs/theory.md §12.11): the
    loop on each stretch, averaged. ``done``: the stretches' loops already computed at this saddle (filled in)."""
    d = tree._draws
    P = pb.Z.shape[0]
    phi = fast_activation_fn(spec.activation)[0]
    done = {} if done is None else done
    V, base, group = d.points(pb.lam0, per * stretches)
    stretch = np.tile(np.arange(per * stretches) // per, d.groups)
    todo = [k for k in range(stretches) if (how, per, k) not in done]
    rows = np.isin(stretch, todo)
    V, base, group, stretch = V[rows], base[rows], group[rows], stretch[rows]
    F = phi(V @ pb.Z.T)
    Fs = None
    if with_test and len(V):  # each stretch its own noise stream (where φ's Gaussian mean is sampled)
        Fs = np.empty((len(V), pb.Zs.shape[0]))
        for k in todo:
            rk = stretch == k
            Fs[rk] = smoothed_features(spec.activation, V[rk] @ pb.Zs.T, pb.qs_perp,
                                       np.random.default_rng([seed, 29, k]))
    del V
    basis = SymBasis(P) if how == "dense" else None
    k0 = spec.kappa0
    # vec(φφᵀ) of every draw, formed once for the pooled and the group estimates (dense form, when it fits)
    psi_vec = None if basis is None or not len(F) else psi_vectors(basis, F)

    def one(sel, C, pooled):
        Fk, Fsk = F[sel], None if Fs is None else Fs[sel]
        w = law_weights(Fk, base[sel], C, y, spec)
        C_test = spec.g_w * (Fsk.T * w) @ Fk if with_test else None
        if how == "samples":
            var = pooled and ((2.0 * Fk.shape[0]**2 * P * P <= WEIGHTED_VAR_FLOPS) if kernel_variance is None
                              else bool(kernel_variance))
            out = SampleLoop(Fk, C, y, spec.chi, k0, spec.g_w, spec.width, phi_test=Fsk, weights=w).core(
                None, C_test=C_test, check=pooled, variance=var)
        else:
            cum = SampleCumulants(basis, Fk, spec.g_w, spec.width, phi_test=Fsk, weights=w,
                                  psi_vec=None if psi_vec is None else psi_vec[sel])
            out = cumulant_core(basis, C, y, spec.chi, k0, cum, C_test=C_test, check=pooled)
            if kernel_variance is False:
                out["var"] = None
        out["loop_test"] = None if C_test is None else out["f_test"] - C_test @ out["a"]
        return out

    own = tree._C_groups if tree._C_groups is not None else [tree.C] * d.groups
    for k in todo:
        in_k = stretch == k
        done[(how, per, k)] = (one(in_k, tree.C, True),
                               [one(in_k & (group == g), own[g], False) for g in range(d.groups)])
    parts = [done[(how, per, k)] for k in range(stretches)]
    full = _mean_core([p[0] for p in parts])
    groups = [_mean_core([p[1][g] for p in parts]) for g in range(d.groups)]
    corr = lambda r: r["delta_shift"] + r["delta_fluct"]  # noqa: E731
    f_full = y - (full["delta_tree"] + corr(full))
    f_g = np.array([y - (r["delta_tree"] + corr(r)) for r in groups])
    pseudo_tr = f_full + (f_g - f_g.mean(0))
    G = d.groups
    spread = lambda v: float(np.std(v, ddof=1) / np.sqrt(G))  # noqa: E731
    loop_se = spread([np.mean(y * corr(r)) for r in groups])
    saddle_se = spread([np.mean(y * r["delta_tree"]) for r in groups])
    f_test = pseudo_te = None
    if with_test:
        f_test = tree.f_test + full["loop_test"]
        tree_g = tree._ft_blocks if tree._ft_blocks is not None else [tree.f_test] * d.groups
        ft_g = np.asarray(tree_g) + np.array([r["loop_test"] for r in groups])
        pseudo_te = f_test + (ft_g - ft_g.mean(0))
    return _Estimate(full, pseudo_tr, pseudo_te, f_test, loop_se, saddle_se, d.groups * per * stretches, tree)
