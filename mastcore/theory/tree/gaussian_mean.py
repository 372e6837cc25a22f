"""Non-zero-mean Gaussian neuron law N(μ, Σ) for the nonlinear tree level (docs/theory.md §9.3).

J(μ, Σ) = L(g_w k(μ, Σ)) − N·KL(N(μ, Σ) ‖ N(0, (g_v/D) I)) is maximised over μ and Σ = L Lᵀ (row space) with
L-BFGS, starting from the zero-mean solution and from ± a shift along its top eigenvector; the largest J wins. The
solution is then polished with the damped stationarity map
    Σ⁻¹ = (D/g_v) I − (2/N) ∂L/∂Σ,   μ = (g_v/(N D)) ∂L/∂μ,
whose relative change is the reported residual (the same definition as the zero-mean solver).

Two backends compute J and its gradient: numpy with the activation's closed-form kernel and Price's-theorem
gradients where the activation has one (ReLU: ``Activation.mean_pair_kernel``; scipy's L-BFGS-B), otherwise torch
autodiff through the quadrature kernel of :mod:`mastcore.theory.nonlinear_kernels` (torch's L-BFGS).
"""
from __future__ import annotations

import numpy as np

from ..._plumbing import threads as _threads
from ...activations import get_activation
from .likelihood import likelihood
from ..kernels.gaussian_law import (has_mean_closed_form, mean_cross, mean_cross_torch, mean_gradients, mean_gram_parts,
                                    mean_gram_torch)
from .nonlinear import gaussian_tree as gaussian  # the zero-mean solution this ansatz starts from (docs/theory.md §9.3)
from .result import finish

#: Relative size of the initial mean shift along the top eigenvector of the zero-mean solution (in units of the
#: standard deviation along it); both signs are tried.
MEAN_SHIFTS = (0.0, 0.7, -0.7)
LBFGS_ITERS = 400


def _objective(torch, pb, chi, mu, Sig):
    """J(μ, Σ) and C for torch tensors μ (r,), Σ (r, r)."""
    spec = pb.spec
    Z = torch.as_tensor(pb.Z)
    y = torch.as_tensor(pb.y)
    m = Z @ mu
    M = Z @ Sig @ Z.T
    C = spec.g_w * mean_gram_torch(m, M, spec.activation)
    P = C.shape[0]
    A = C + spec.kappa0 * torch.eye(P, dtype=torch.float64)
    Lc = torch.linalg.cholesky(A)
    a = torch.cholesky_solve(y[:, None], Lc)[:, 0]
    L = -0.5 * chi * (y @ a) - torch.sum(torch.log(torch.diagonal(Lc)))
    lam0 = pb.lam0
    r = pb.r
    kl = 0.5 * (lam0 * (torch.trace(Sig) + mu @ mu) - r - r * np.log(lam0) - torch.logdet(Sig))
    return L - spec.width * kl, L, C, a


def _stationarity(torch, pb, chi, mu_np, Sig_np):
    """Λ_new, μ_new of the stationarity map at (μ, Σ), and J."""
    mu = torch.tensor(mu_np, dtype=torch.float64, requires_grad=True)
    Sig = torch.tensor(Sig_np, dtype=torch.float64, requires_grad=True)
    J, L, C, a = _objective(torch, pb, chi, mu, Sig)
    gS, gm = torch.autograd.grad(L, (Sig, mu))
    gS = 0.5 * (gS + gS.T).numpy()
    N = pb.spec.width
    Lam_new = pb.lam0 * np.eye(pb.r) - (2.0 / N) * gS
    mu_new = gm.numpy() / (N * pb.lam0)
    return Lam_new, mu_new, float(J.detach()), C.detach().numpy(), a.detach().numpy()


# --- numpy backend: closed-form kernel, analytic gradients (docs/theory.md §9.3) ---

def _np_eval(pb, chi, mu, Sig):
    """J, C, a and the gradients ∂L/∂Σ (r, r), ∂L/∂μ (r,) at (μ, Σ): dL = tr(C̃ dC) (T1) with C = g_w k(Zμ, ZΣZᵀ)."""
    spec = pb.spec
    Z = pb.Z
    parts = mean_gram_parts(Z @ mu, Z @ Sig @ Z.T, spec.activation)
    C = spec.g_w * parts.K
    L, R, a = likelihood(C, pb.y, chi, spec.kappa0)
    Ct = 0.5 * chi * np.outer(a, a) - 0.5 * R  # (T1)
    G, g = mean_gradients(Ct, parts)
    gS = spec.g_w * (Z.T @ G @ Z)
    gS = 0.5 * (gS + gS.T)
    gm = spec.g_w * (Z.T @ g)
    sign, logdet = np.linalg.slogdet(Sig)
    lam0, r = pb.lam0, pb.r
    kl = 0.5 * (lam0 * (np.trace(Sig) + mu @ mu) - r - r * np.log(lam0) - logdet) if sign > 0 else np.inf
    return L - spec.width * kl, C, a, gS, gm


class _NumpyBackend:
    """J and its gradient in numpy (activations with a closed-form non-zero-mean kernel)."""

    @staticmethod
    def stationarity(pb, chi, mu, Sig):
        J, C, a, gS, gm = _np_eval(pb, chi, mu, Sig)
        N = pb.spec.width
        return pb.lam0 * np.eye(pb.r) - (2.0 / N) * gS, gm / (N * pb.lam0), J, C, a

    @staticmethod
    def maximise(pb, chi, mu0, Sig0, max_iter):
        """scipy L-BFGS-B on −J/N over (μ̂, L̂) with μ = σ0 μ̂, Σ = σ0² L̂ L̂ᵀ (L̂ lower triangular)."""
        from scipy.optimize import minimize  # noqa: PLC0415

        r, N = pb.r, pb.spec.width
        s0 = 1.0 / np.sqrt(pb.lam0)
        il = np.tril_indices(r)
        L0 = np.linalg.cholesky(Sig0) / s0
        x0 = np.concatenate([mu0 / s0, L0[il]])

        def unpack(x):
            Lh = np.zeros((r, r))
            Lh[il] = x[r:]
            return s0 * x[:r], Lh

        def fun(x):
            mu, Lh = unpack(x)
            Sig = (s0 * s0) * (Lh @ Lh.T)
            try:
                J, _, _, gS, gm = _np_eval(pb, chi, mu, Sig)
            except (np.linalg.LinAlgError, FloatingPointError, ValueError):
                return np.inf, np.zeros_like(x)
            if not np.isfinite(J):
                return np.inf, np.zeros_like(x)
            dJ_dSig = gS - 0.5 * N * (pb.lam0 * np.eye(r) - np.linalg.inv(Sig))  # ∂KL/∂Σ = ½(λ0 I − Σ⁻¹)
            dJ_dL = 2.0 * s0 * s0 * (dJ_dSig @ Lh)
            dJ_dmu = s0 * (gm - N * pb.lam0 * mu)
            return -J / N, -np.concatenate([dJ_dmu, dJ_dL[il]]) / N

        sol = minimize(fun, x0, jac=True, method="L-BFGS-B",
                       options=dict(maxiter=max_iter, maxcor=50, ftol=1e-15, gtol=1e-10))
        mu, Lh = unpack(sol.x)
        Sig = (s0 * s0) * (Lh @ Lh.T)
        try:
            J = _np_eval(pb, chi, mu, Sig)[0]
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            J = -np.inf
        return mu, Sig, float(J)

    @staticmethod
    def test_kernel(pb, mu, Sig):
        Zs, Z = pb.Zs, pb.Z
        qs = np.einsum("ij,jk,ik->i", Zs, Sig, Zs) + pb.qs_perp
        q = np.einsum("ij,jk,ik->i", Z, Sig, Z)
        return pb.spec.g_w * mean_cross(Zs @ mu, qs, Z @ mu, q, Zs @ Sig @ Z.T, pb.spec.activation)


class _TorchBackend:
    """J and its gradient by torch autodiff through the quadrature kernel (any differentiable φ)."""

    def __init__(self, torch):
        self.torch = torch

    def stationarity(self, pb, chi, mu, Sig):
        return _stationarity(self.torch, pb, chi, mu, Sig)

    def maximise(self, pb, chi, mu0, Sig0, max_iter):
        return _maximise(self.torch, pb, chi, mu0, Sig0, max_iter)

    def test_kernel(self, pb, mu, Sig):
        torch = self.torch
        with torch.no_grad():
            Zs, Z = torch.as_tensor(pb.Zs), torch.as_tensor(pb.Z)
            S = torch.as_tensor(Sig)
            m_t = torch.as_tensor(mu)
            qs = torch.einsum("ij,jk,ik->i", Zs, S, Zs) + torch.as_tensor(pb.qs_perp)
            q = torch.einsum("ij,jk,ik->i", Z, S, Z)
            return pb.spec.g_w * mean_cross_torch(Zs @ m_t, qs, Z @ m_t, q, Zs @ S @ Z.T, pb.spec.activation).numpy()


def _residual(Lam, Lam_new, mu, mu_new, lam0):
    # the mean is compared in units of the prior standard deviation
    return max(float(np.linalg.norm(Lam_new - Lam) / np.linalg.norm(Lam)),
               float(np.linalg.norm(mu_new - mu) * np.sqrt(lam0)))


def _maximise(torch, pb, chi, mu0, Sig0, max_iter):
    """L-BFGS on −J/N over (μ̂, L̂) with μ = σ0 μ̂, Σ = σ0² L̂ L̂ᵀ."""
    s0 = 1.0 / np.sqrt(pb.lam0)
    L0 = np.linalg.cholesky(Sig0) / s0
    mu_h = torch.tensor(mu0 / s0, dtype=torch.float64, requires_grad=True)
    L_h = torch.tensor(L0, dtype=torch.float64, requires_grad=True)
    mask = torch.tril(torch.ones_like(L_h))
    opt = torch.optim.LBFGS([mu_h, L_h], lr=1.0, max_iter=max_iter, tolerance_grad=1e-12, tolerance_change=1e-15,
                            history_size=50, line_search_fn="strong_wolfe")
    N = pb.spec.width

    def closure():
        opt.zero_grad()
        Lm = L_h * mask
        Sig = (s0 * s0) * (Lm @ Lm.T)
        try:
            J = _objective(torch, pb, chi, s0 * mu_h, Sig)[0]
        except RuntimeError:  # Cholesky failure: reject the point
            return torch.tensor(np.inf, dtype=torch.float64, requires_grad=True)
        loss = -J / N
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        Lm = L_h * mask
        Sig = (s0 * s0) * (Lm @ Lm.T)
        J = _objective(torch, pb, chi, s0 * mu_h, Sig)[0]
    return (s0 * mu_h).detach().numpy(), Sig.numpy(), float(J)


def _polish(backend, pb, chi, mu, Sig, tol, max_iter):
    """Damped stationarity map on (μ, Λ) with backtracking to positive definiteness."""
    Lam = np.linalg.inv(Sig)
    Lam = 0.5 * (Lam + Lam.T)
    eta, prev, res, n = 0.5, np.inf, np.inf, 0
    for n in range(1, max_iter + 1):
        Lam_new, mu_new, _, _, _ = backend.stationarity(pb, chi, mu, np.linalg.inv(Lam))
        res = _residual(Lam, Lam_new, mu, mu_new, pb.lam0)
        if res < tol:
            break
        eta = eta / 2 if res > prev else min(1.0, 1.1 * eta)
        prev = res
        while True:
            trial = (1 - eta) * Lam + eta * Lam_new
            try:
                np.linalg.cholesky(trial)
                break
            except np.linalg.LinAlgError:
                eta /= 2
                if eta < 1e-10:
                    raise FloatingPointError("no positive-definite damped step") from None
        Lam = trial
        mu = (1 - eta) * mu + eta * mu_new
    Sig = np.linalg.inv(Lam)
    return mu, 0.5 * (Sig + Sig.T), n, res


def gaussian_mean_tree(pb, **kw):
    """Tree level with the Gaussian N(μ, Σ) neuron law maximising J (docs/theory.md §9)."""
    act = get_activation(pb.spec.activation)
    if has_mean_closed_form(act):
        return _gaussian_mean_tree(_NumpyBackend(), pb, **kw)
    if not act.differentiable_torch:
        raise ValueError(f"ansatz 'gaussian_mean' needs a differentiable torch form of φ (mc.Activation(..., "
                         f"phi_torch=...)); activation {act.name!r} has none: use ansatz 'gaussian' or 'particles'")
    import torch  # noqa: PLC0415  (torch is imported only when this ansatz runs)

    with _threads.policy("tree", P=pb.Z.shape[0]):  # again, now that torch is imported: its threads follow the policy too
        return _gaussian_mean_tree(_TorchBackend(torch), pb, **kw)


def _gaussian_mean_tree(backend, pb, *, init, tol, max_iter, n_stages, progress, t0):
    spec = pb.spec
    chi = spec.chi
    found = None
    if init is not None and init.ansatz == "gaussian_mean" and init._cov_row.shape == (pb.r, pb.r):
        # continuation along χ (a sweep): the polishing map from the previous χ's law alone; on failure the cold
        # multi-start below (docs/theory.md §9.3)
        try:
            mu, Sig, n_pol, res = _polish(backend, pb, chi, init._mean_row, init._cov_row, tol, max_iter)
            if res < tol:
                found = (mu, Sig, n_pol, res, 1)
        except (FloatingPointError, np.linalg.LinAlgError):
            pass
    if found is None:
        found = _cold(backend, pb, chi, init, tol, max_iter, n_stages, progress, t0)
    mu, Sig, n_it, res, stages = found
    _, _, J, C, a = backend.stationarity(pb, chi, mu, Sig)
    if progress is not None:
        progress(1, 1, {"J": J, "residual": res})
    Ks = None if pb.Zs is None else backend.test_kernel(pb, mu, Sig)
    return finish(pb, Sig, mu, C, a, Ks, "gaussian_mean", res < tol, n_it, res, t0, J, stages)


def _cold(backend, pb, chi, init, tol, max_iter, n_stages, progress, t0):
    """L-BFGS from the zero-mean law shifted along its top eigenvector (MEAN_SHIFTS), the largest J polished."""
    zero = gaussian(pb, init=None if init is None or init.ansatz != "gaussian" else init, tol=max(tol, 1e-8),
                    max_iter=max_iter, n_stages=n_stages, progress=None, t0=t0)
    Sig0 = zero._cov_row
    ev, V = np.linalg.eigh(Sig0)
    top = V[:, -1] * np.sqrt(ev[-1])
    # φ odd (erf, tanh): J(μ) = J(−μ), so one sign of the shift suffices
    shifts = [m for m in MEAN_SHIFTS if m >= 0] if get_activation(pb.spec.activation).odd else list(MEAN_SHIFTS)
    best = None
    for k, shift in enumerate(shifts):
        mu, Sig, J = backend.maximise(pb, chi, shift * top, Sig0, LBFGS_ITERS)
        if np.isfinite(J) and (best is None or J > best[2]):
            best = (mu, Sig, J)
        if progress is not None:
            progress(k + 1, len(shifts) + 1, {"J": J})
    mu, Sig, n_pol, res = _polish(backend, pb, chi, best[0], best[1], tol, max_iter)
    return mu, Sig, zero.n_iter + n_pol, res, zero.n_stages
