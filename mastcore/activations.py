"""The activation registry: everything the library knows about an elementwise φ, in one record (docs/theory.md §9).

An :class:`Activation` holds φ in numpy and torch, its derivative, the bounds the trainer's step size needs, its
symmetry, the default tree-level ansatz, a label for people, a relative cost for the budget, and its kernel
k(c, q_a, q_b) = E[φ(h_a) φ(h_b)] for (h_a, h_b) centred Gaussian with variances q_a, q_b and covariance c (a closed
form where one exists, otherwise numerical). :data:`ACTIVATIONS` is the live registry (name → Activation; iterating
it gives the names); :func:`register_activation` adds a user's own. This is the only module that compares activation
names; everything else reads the record's properties.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "register_activation"]

ANSATZE = ("gaussian", "gaussian_mean", "particles")


@dataclass(frozen=True, eq=False)
class Activation:
    """An elementwise activation φ and what the theories and the trainer need of it (docs/theory.md §9).

    Parameters
    ----------
    name : str
        Key in :data:`ACTIVATIONS` (and the value of ``NetworkSpec.activation``).
    phi : callable
        φ on numpy float64 arrays (elementwise).
    phi_torch : callable, optional
        φ on torch tensors (elementwise, differentiable). Default: ``phi`` applied through numpy, which the trainer
        can use but the ``gaussian_mean`` ansatz (autograd) refuses.
    dphi, dphi_torch : callable, optional
        φ' on numpy arrays / torch tensors. Default: a central finite difference of ``phi`` (step 1e-6·max(1, |h|),
        error ~1e-10) / autograd of ``phi_torch``.
    label : str
        Name for people (plots, the app). Default: ``name``.
    linear : bool
        φ is the identity: exact posteriors and the closed-form linear theories apply (docs/theory.md §2–§8).
    odd : bool
        φ(−h) = −φ(h): the objective of the ``gaussian_mean`` ansatz is even in the mean (docs/theory.md §9.3).
    default_ansatz : {"gaussian", "gaussian_mean", "particles"}
        Tree-level ansatz used when none is asked for (docs/theory.md §9).
    phi_prime_max, phi_second_max : float
        sup |φ'| and sup |φ''| (the trainer's automatic step size; docs/theory.md §13).
    cost : float
        Live (n, m) arrays while a kernel of n × m entries is formed, for the budget's models (closed forms: linear
        2, erf 8, ReLU 11; the numerical kernel works in bounded blocks: 12).
    entry_seconds : float
        Seconds per kernel entry with its derivatives (closed forms ~3e-8; the numerical kernel at the default degree
        ~1e-4, measured on 6400 pairs), for the budget's time models.
    sample_seconds : float
        Seconds per sample and train point of the sampled one loops (docs/theory.md §16.3; erf 6.7e-8, ReLU 5.4e-8).
    pair_kernel : callable, optional
        Closed form ``pair_kernel(c, qa, qb, derivatives=False)`` → k or (k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b).
        Default: Gauss–Hermite quadrature (docs/theory.md §9.7).
    diag_kernel : callable, optional
        Closed form ``diag_kernel(q, derivative=False)`` → k(x, x) or (k, dk/dq) as a function of q alone.
    gauss_mean_torch : callable, optional
        Closed form ``gauss_mean_torch(m, s2)`` = E[φ(m + √s2 ξ)], ξ ~ N(0, 1), on torch tensors (the inner integral
        of the ``gaussian_mean`` kernel, docs/theory.md §9.3). Default: Gauss–Hermite quadrature in ξ.
    gauss_mean : callable, optional
        The same closed form on numpy arrays: the particle tree level integrates the prior part of a test point's
        pre-activation out with it (docs/theory.md §9.4). Default: that part is sampled.
    mean_pair_kernel, mean_diag_kernel : callable, optional
        Closed forms (numpy) of the kernel with a non-zero mean, ``mean_pair_kernel(m_a, q_a, m_b, q_b, c,
        derivatives=False)`` → k or (k, ∂k/∂c, ∂k/∂m_a, ∂k/∂m_b, ∂k/∂q_a, ∂k/∂q_b) and ``mean_diag_kernel(m, q,
        derivative=False)`` → k or (k, ∂k/∂m, ∂k/∂q): with them the ``gaussian_mean`` tree level runs in numpy with
        analytic gradients (docs/theory.md §9.3); without, by torch autodiff through quadrature.
    degree : int
        Gauss–Hermite nodes per Gaussian coordinate of the numerical kernel (default :data:`GH_DEGREE`).
    torch_force : callable, optional
        Fused in-place ``torch_force(H, A, G) -> float``: A ← φ(H), G ← φ'(H)/s, returns s (the trainer's hot path;
        default: ``phi_torch``/``dphi_torch`` with s = 1).
    """

    name: str
    phi: Callable
    phi_torch: Callable | None = None
    dphi: Callable | None = None
    dphi_torch: Callable | None = None
    label: str = ""
    linear: bool = False
    odd: bool = False
    default_ansatz: str = "gaussian"
    phi_prime_max: float = 1.0
    phi_second_max: float = 0.0
    cost: float = 8.0
    entry_seconds: float = 3e-8
    sample_seconds: float = 6.7e-8
    pair_kernel: Callable | None = None
    diag_kernel: Callable | None = None
    gauss_mean_torch: Callable | None = None
    gauss_mean: Callable | None = None
    degree: int = 0
    mean_pair_kernel: Callable | None = None
    mean_diag_kernel: Callable | None = None
    torch_force: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"'name' must be a short identifier string; got {self.name!r}")
        for field in ("phi", "phi_torch", "dphi", "dphi_torch", "pair_kernel", "diag_kernel", "gauss_mean_torch",
                      "gauss_mean", "torch_force", "mean_pair_kernel", "mean_diag_kernel"):
            f = getattr(self, field)
            if field == "phi" and not callable(f) or f is not None and not callable(f):
                raise TypeError(f"'{field}' must be callable; got {type(f).__name__}")
        if (self.pair_kernel is None) != (self.diag_kernel is None):
            raise ValueError("'pair_kernel' and 'diag_kernel' must be given together (or neither: numerical kernel)")
        if (self.mean_pair_kernel is None) != (self.mean_diag_kernel is None):
            raise ValueError("'mean_pair_kernel' and 'mean_diag_kernel' must be given together (or neither)")
        if self.default_ansatz not in ANSATZE:
            raise ValueError(f"'default_ansatz' must be one of {ANSATZE}; got {self.default_ansatz!r}")
        for field in ("phi_prime_max", "phi_second_max", "cost", "entry_seconds", "sample_seconds"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"'{field}' must be a finite number >= 0; got {v!r}")
            object.__setattr__(self, field, float(v))
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 0:
            raise ValueError(f"'degree' must be an integer >= 0 (0: the default {GH_DEGREE}); got {self.degree!r}")
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.dphi is None:
            object.__setattr__(self, "dphi", _finite_difference(self.phi))
        if self.phi_torch is None:
            object.__setattr__(self, "phi_torch", _through_numpy(self.phi))
        if self.dphi_torch is None:
            object.__setattr__(self, "dphi_torch", _autograd(self.phi_torch, self.dphi))

    @property
    def closed_form(self) -> bool:
        """True when the kernel has a closed form (else it is computed by Gauss–Hermite quadrature)."""
        return self.pair_kernel is not None

    @property
    def differentiable_torch(self) -> bool:
        """True when ``phi_torch`` was given (autograd works through it; the ``gaussian_mean`` ansatz needs it)."""
        return not getattr(self.phi_torch, "through_numpy", False)

    @property
    def quadrature_degree(self) -> int:
        """Gauss–Hermite nodes per coordinate of the numerical kernel."""
        return self.degree or GH_DEGREE

    def kernel(self, c, qa, qb, *, derivatives: bool = False):
        """k(c, q_a, q_b) = E[φ(h_a)φ(h_b)] for distinct points, elementwise over broadcastable arrays.

        Returns k, or (k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b) if ``derivatives`` (docs/theory.md §9.1, §9.7).
        """
        if self.pair_kernel is not None:
            return self.pair_kernel(c, qa, qb, derivatives=derivatives)
        from .theory.kernels.quadrature import gh_pair_kernel  # noqa: PLC0415  (the theory package imports this one)

        return gh_pair_kernel(self.phi, self.dphi, c, qa, qb, degree=self.quadrature_degree, derivatives=derivatives)

    def diag(self, q, *, derivative: bool = False):
        """k(x, x) = E[φ(h)²], h ~ N(0, q), as a function of q alone; (k, dk/dq) if ``derivative``."""
        if self.diag_kernel is not None:
            return self.diag_kernel(q, derivative=derivative)
        from .theory.kernels.quadrature import gh_diag_kernel  # noqa: PLC0415

        return gh_diag_kernel(self.phi, self.dphi, q, degree=self.quadrature_degree, derivative=derivative)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


#: Default Gauss–Hermite nodes per coordinate of the numerical kernel (docs/theory.md §9.7: the kernel and its
#: derivatives are within 1e-10 of a 300-node run at q ≤ 0.5 for tanh, q ≤ 2 for GELU, q ≤ 3 for softplus; about
#: 1e-4 s per pair with derivatives).
GH_DEGREE = 64


def _finite_difference(phi):
    def dphi(h):
        h = np.asarray(h, dtype=np.float64)
        e = 1e-6 * np.maximum(1.0, np.abs(h))
        return (phi(h + e) - phi(h - e)) / (2.0 * e)

    return dphi


def _through_numpy(phi):
    def phi_torch(h):
        import torch  # noqa: PLC0415

        return torch.as_tensor(phi(h.detach().cpu().numpy()), dtype=h.dtype, device=h.device)

    phi_torch.through_numpy = True
    return phi_torch


def _autograd(phi_torch, dphi):
    def dphi_torch(h):
        import torch  # noqa: PLC0415

        with torch.enable_grad():
            x = h.detach().requires_grad_(True)
            y = phi_torch(x)
            if y.requires_grad:
                (g,) = torch.autograd.grad(y.sum(), x)
                return g
        return torch.as_tensor(dphi(h.detach().cpu().numpy()), dtype=h.dtype, device=h.device)

    return dphi_torch


class _Registry(Mapping):
    """name → :class:`Activation`; iterating gives the names in registration order."""

    def __init__(self):
        self._items: dict[str, Activation] = {}

    def __getitem__(self, name):
        return self._items[name]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self) -> str:
        return repr(tuple(self._items))


#: The live activation registry: ``"erf" in ACTIVATIONS``, ``tuple(ACTIVATIONS)`` gives the names.
ACTIVATIONS = _Registry()


def register_activation(act: Activation, *, replace: bool = False) -> Activation:
    """Add ``act`` to :data:`ACTIVATIONS` (``replace=True`` to overwrite an existing name). Returns it."""
    if not isinstance(act, Activation):
        raise TypeError(f"'act' must be an mastcore.Activation; got {type(act).__name__}")
    if act.name in ACTIVATIONS._items and not replace:
        raise ValueError(f"activation {act.name!r} is already registered; pass replace=True to overwrite it")
    ACTIVATIONS._items[act.name] = act
    return act


def get_activation(name) -> Activation:
    """The registered :class:`Activation` called ``name`` (an Activation passes through)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"'activation' must be one of {tuple(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]


# --- built-in activations ------------------------------------------------------------------------------------

def _closed(fname):
    """The closed form ``fname`` of mastcore.theory.kernels.closed_forms, imported when first called (the theory package
    imports this module)."""

    def f(*args, **kwargs):
        from .theory.kernels import closed_forms as closed_kernels  # noqa: PLC0415

        return getattr(closed_kernels, fname)(*args, **kwargs)

    f.__name__ = fname
    return f


def _torch():
    import torch  # noqa: PLC0415

    return torch


_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _norm_pdf_t(z):
    return _torch().exp(-0.5 * z * z) / _SQRT2PI


def _norm_cdf_t(z):
    return 0.5 * (1.0 + _torch().erf(z / _SQRT2))


# --- linear, erf, ReLU: closed-form kernels (docs/theory.md §9.1) ---

def _erf_force(H, A, G):
    torch = _torch()
    torch.erf(H, out=A)
    torch.mul(H, H, out=G).neg_().exp_()  # φ'(h) = (2/√π) e^{−h²}: the constant is returned
    return 2.0 / math.sqrt(math.pi)


def _relu_force(H, A, G):
    torch = _torch()
    torch.clamp(H, min=0.0, out=A)
    torch.sign(A, out=G)  # φ' = 1{h > 0} = sign(φ)
    return 1.0


def _relu_gauss_mean(m, s2):  # E[relu(m + sξ)] = m Φ(m/s) + s φ(m/s)
    s = _torch().sqrt(s2)
    return m * _norm_cdf_t(m / s) + s * _norm_pdf_t(m / s)


def _relu_gauss_mean_np(m, s2):
    from scipy.special import ndtr  # noqa: PLC0415

    s = np.sqrt(s2)
    z = m / s
    return m * ndtr(z) + s * np.exp(-0.5 * z * z) / _SQRT2PI


# --- tanh, GELU, softplus: numerical kernels (docs/theory.md §9.7) ---

def _tanh_force(H, A, G):
    torch = _torch()
    torch.tanh(H, out=A)
    torch.mul(A, A, out=G).neg_().add_(1.0)  # φ' = 1 − tanh²
    return 1.0


def _gelu(h):
    from scipy.special import ndtr  # noqa: PLC0415

    return h * ndtr(h)


def _gelu_prime(h):
    from scipy.special import ndtr  # noqa: PLC0415

    return ndtr(h) + h * np.exp(-0.5 * h * h) / _SQRT2PI


def _gelu_torch(h):
    return h * _norm_cdf_t(h)


def _gelu_prime_torch(h):
    return _norm_cdf_t(h) + h * _norm_pdf_t(h)


def _gelu_gauss_mean(m, s2):  # E[hΦ(h)], h ~ N(m, s2): m Φ(m/√(1+s2)) + s2/√(1+s2) φ(m/√(1+s2))
    r = _torch().sqrt(1.0 + s2)
    return m * _norm_cdf_t(m / r) + (s2 / r) * _norm_pdf_t(m / r)


def _gelu_gauss_mean_np(m, s2):
    from scipy.special import ndtr  # noqa: PLC0415

    r = np.sqrt(1.0 + s2)
    z = m / r
    return m * ndtr(z) + (s2 / r) * np.exp(-0.5 * z * z) / _SQRT2PI


def _softplus(h):
    return np.logaddexp(0.0, h)


def _sigmoid(h):
    from scipy.special import expit  # noqa: PLC0415

    return expit(h)


def _softplus_torch(h):
    return _torch().nn.functional.softplus(h, beta=1.0, threshold=40.0)


def _sigmoid_torch(h):
    return _torch().sigmoid(h)


def _builtin():
    from scipy.special import erf  # noqa: PLC0415

    torch_erf = lambda h: _torch().erf(h)  # noqa: E731
    register_activation(Activation(
        "linear", lambda h: h, phi_torch=lambda h: h, dphi=np.ones_like, dphi_torch=lambda h: _torch().ones_like(h),
        label="linear", linear=True, odd=True, phi_prime_max=1.0, phi_second_max=0.0, cost=2.0, sample_seconds=0.0,
        pair_kernel=_closed("linear_pair"), diag_kernel=_closed("linear_diag"),
        gauss_mean_torch=lambda m, s2: m, gauss_mean=lambda m, s2: m))
    register_activation(Activation(
        "erf", erf, phi_torch=torch_erf, dphi=lambda h: (2.0 / math.sqrt(math.pi)) * np.exp(-h * h),
        dphi_torch=lambda h: (2.0 / math.sqrt(math.pi)) * _torch().exp(-h * h), label="erf", odd=True,
        phi_prime_max=2.0 / math.sqrt(math.pi), phi_second_max=4.0 / math.sqrt(math.pi) / math.sqrt(2.0 * math.e),
        cost=8.0, sample_seconds=6.7e-8, pair_kernel=_closed("erf_pair"), diag_kernel=_closed("erf_diag"),
        gauss_mean_torch=lambda m, s2: _torch().erf(m / _torch().sqrt(1.0 + 2.0 * s2)),
        gauss_mean=lambda m, s2: erf(m / np.sqrt(1.0 + 2.0 * s2)), torch_force=_erf_force))
    register_activation(Activation(
        "relu", lambda h: np.maximum(h, 0.0), phi_torch=lambda h: _torch().relu(h),
        dphi=lambda h: (np.asarray(h) > 0).astype(np.float64), dphi_torch=lambda h: (h > 0).to(h.dtype),
        label="ReLU", default_ansatz="gaussian_mean", phi_prime_max=1.0, phi_second_max=0.0, cost=11.0,
        sample_seconds=5.4e-8, pair_kernel=_closed("relu_pair"), diag_kernel=_closed("relu_diag"),
        gauss_mean_torch=_relu_gauss_mean, gauss_mean=_relu_gauss_mean_np, torch_force=_relu_force, mean_pair_kernel=_closed("relu_mean_pair"),
        mean_diag_kernel=_closed("relu_mean_diag")))
    # sample_seconds: erf 6.7e-8 and ReLU 5.4e-8 measured on the shared prior draws of the renormalised one loop (P = 80,
    # no test set, 32768 draws, cold: 0.175 s and 0.142 s); the others: erf's value times their measured ratio (the
    # older measurement, erf 1.2e-7, scaled by 6.7/12) of the sampled 1/N expansion (P = 60, 2e5 samples, two
    # runs on the shared machine: tanh 0.76, GELU 1.0, softplus 1.2–1.7 of erf; ReLU 0.72, as the budget's 0.9e-7).
    # sup|φ''|: tanh 4/(3√3) at tanh² = 1/3; GELU φ'' = φ_N(h)(2 − h²), largest at 0: 2/√(2π); softplus σ(1−σ) ≤ ¼.
    # sup|φ'| of GELU: Φ(√2) + √2 φ_N(√2) = 1.0685 at h = √2.
    register_activation(Activation(
        "tanh", np.tanh, phi_torch=lambda h: _torch().tanh(h), dphi=lambda h: 1.0 - np.tanh(h) ** 2,
        dphi_torch=lambda h: 1.0 - _torch().tanh(h) ** 2, label="tanh", odd=True, phi_prime_max=1.0,
        phi_second_max=4.0 / (3.0 * math.sqrt(3.0)), cost=NUMERICAL_COST, entry_seconds=NUMERICAL_ENTRY_SECONDS,
        sample_seconds=5.0e-8, torch_force=_tanh_force))
    register_activation(Activation(
        "gelu", _gelu, phi_torch=_gelu_torch, dphi=_gelu_prime, dphi_torch=_gelu_prime_torch, label="GELU",
        phi_prime_max=_gelu_prime(math.sqrt(2.0)), phi_second_max=2.0 / _SQRT2PI, cost=NUMERICAL_COST,
        entry_seconds=NUMERICAL_ENTRY_SECONDS, sample_seconds=6.7e-8, gauss_mean_torch=_gelu_gauss_mean,
        gauss_mean=_gelu_gauss_mean_np))
    register_activation(Activation(
        "softplus", _softplus, phi_torch=_softplus_torch, dphi=_sigmoid, dphi_torch=_sigmoid_torch,
        label="softplus", phi_prime_max=1.0, phi_second_max=0.25, cost=NUMERICAL_COST,
        entry_seconds=NUMERICAL_ENTRY_SECONDS, sample_seconds=8.4e-8))


#: The numerical kernel's live arrays (bounded blocks) and seconds per entry with derivatives (6400 pairs,
#: degree 64, this machine: 0.64 s).
NUMERICAL_COST, NUMERICAL_ENTRY_SECONDS = 12.0, 1e-4

_builtin()
