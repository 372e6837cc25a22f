"""Non-zero-mean Gaussian neuron law N(μ, Σ) for the nonlinear tree level (docs/theory.md §9, "better ansätze").

J(μ, Σ) = L(g_w k(μ, Σ)) − N·KL(N(μ, Σ) ‖ N(0, (g_v/D) I)) is maximised over μ and Σ = L Lᵀ (row space) with
L-BFGS (torch autodiff through the quadrature kernel of :mod:`mastcore.theory.kernels.gaussian_law`), starting from the
zero-mean solution and from ± a shift along its top eigenvector; the largest J wins. The solution is then
polished with the damped stationarity map
    Σ⁻¹ = (D/g_v) I − (2/N) ∂L/∂Σ,   μ = (g_v/(N D)) ∂L/∂μ,
whose relative change is the reported residual (the same definition as the zero-mean solver).
"""
from __future__ import annotations

import numpy as np

from ..._plumbing import threads as _threads
from ...activations import get_activation
from ..kernels.gaussian_law import mean_cross_torch, mean_gram_torch
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


def _polish(torch, pb, chi, mu, Sig, tol, max_iter):
    """Damped stationarity map on (μ, Λ) with backtracking to positive definiteness."""
    Lam = np.linalg.inv(Sig)
    Lam = 0.5 * (Lam + Lam.T)
    eta, prev, res, n = 0.5, np.inf, np.inf, 0
    for n in range(1, max_iter + 1):
        Lam_new, mu_new, _, _, _ = _stationarity(torch, pb, chi, mu, np.linalg.inv(Lam))
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
    if not act.differentiable_torch:
        raise ValueError(f"ansatz 'gaussian_mean' needs a differentiable torch form of φ (mc.Activation(..., "
                         f"phi_torch=...)); activation {act.name!r} has none: use ansatz 'gaussian' or 'particles'")
    import torch  # noqa: PLC0415  (torch is imported only when this ansatz runs)

    with _threads.policy("tree", P=pb.Z.shape[0]):  # again, now that torch is imported: its threads follow the policy too
        return _gaussian_mean_tree(torch, pb, **kw)


def _gaussian_mean_tree(torch, pb, *, init, tol, max_iter, n_stages, progress, t0):
    spec = pb.spec
    chi = spec.chi
    zero = gaussian(pb, init=None if init is None or init.ansatz != "gaussian" else init, tol=max(tol, 1e-8),
                    max_iter=max_iter, n_stages=n_stages, progress=None, t0=t0)
    Sig0 = zero._cov_row
    ev, V = np.linalg.eigh(Sig0)
    top = V[:, -1] * np.sqrt(ev[-1])
    # φ odd (erf, tanh): J(μ) = J(−μ), so one sign of the shift suffices
    shifts = [m for m in MEAN_SHIFTS if m >= 0] if get_activation(spec.activation).odd else list(MEAN_SHIFTS)
    starts = [m * top for m in shifts]
    if init is not None and init.ansatz == "gaussian_mean" and init._cov_row.shape == Sig0.shape:
        starts.append(init._mean_row)
    best = None
    for k, mu0 in enumerate(starts):
        Sig_init = Sig0 if k < len(shifts) else init._cov_row
        mu, Sig, J = _maximise(torch, pb, chi, mu0, Sig_init, LBFGS_ITERS)
        if np.isfinite(J) and (best is None or J > best[2]):
            best = (mu, Sig, J)
        if progress is not None:
            progress(k + 1, len(starts) + 1, {"J": J})
    mu, Sig, n_pol, res = _polish(torch, pb, chi, best[0], best[1], tol, max_iter)
    _, _, J, C, a = _stationarity(torch, pb, chi, mu, Sig)
    if progress is not None:
        progress(len(starts) + 1, len(starts) + 1, {"J": J, "residual": res})
    Ks = None
    if pb.Zs is not None:
        with torch.no_grad():
            Zs, Z = torch.as_tensor(pb.Zs), torch.as_tensor(pb.Z)
            S = torch.as_tensor(Sig)
            m_t = torch.as_tensor(mu)
            qs = torch.einsum("ij,jk,ik->i", Zs, S, Zs) + torch.as_tensor(pb.qs_perp)
            q = torch.einsum("ij,jk,ik->i", Z, S, Z)
            Ks = spec.g_w * mean_cross_torch(Zs @ m_t, qs, Z @ m_t, q, Zs @ S @ Z.T, spec.activation).numpy()
    return finish(pb, Sig, mu, C, a, Ks, "gaussian_mean", res < tol, zero.n_iter + n_pol, res, t0, J,
                  zero.n_stages)
