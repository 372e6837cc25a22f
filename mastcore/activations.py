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
        φ on torch tensors (elementwise, differentiable). Default: ``phi`` applied through numpy is NOT used; a
        torch form is needed for the trainer.
    dphi, dphi_torch : callable, optional
        φ' on numpy arrays / torch tensors. Default: a central finite difference of ``phi`` / autograd.
    label : str
        Name for people (plots, the app). Default: ``name``.
    linear : bool
        φ is the identity: exact posteriors and the closed-form linear theories apply (docs/theory.md §2–§8).
    odd : bool
        φ(−h) = −φ(h) (antithetic sampling, the zero-mean ansatz is a stationary point by symmetry).
    default_ansatz : {"gaussian", "gaussian_mean", "particles"}
        Tree-level ansatz used when none is asked for (docs/theory.md §9).
    phi_prime_max, phi_second_max : float
        sup |φ'| and sup |φ''| (the trainer's automatic step size; docs/theory.md §11).
    cost : float
        Relative cost of one kernel entry / one φ evaluation in the budget's models (linear 2, erf 8, ReLU 11).
    pair_kernel : callable, optional
        Closed form ``pair_kernel(c, qa, qb, derivatives=False)`` → k or (k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b).
    diag_kernel : callable, optional
        Closed form ``diag_kernel(q, derivative=False)`` → k(x, x) or (k, dk/dq) as a function of q alone.
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
    pair_kernel: Callable | None = None
    diag_kernel: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"'name' must be a short identifier string; got {self.name!r}")
        if not callable(self.phi):
            raise TypeError(f"'phi' must be callable; got {type(self.phi).__name__}")
        if self.default_ansatz not in ANSATZE:
            raise ValueError(f"'default_ansatz' must be one of {ANSATZE}; got {self.default_ansatz!r}")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def closed_form(self) -> bool:
        """True when the kernel has a closed form (else it is computed numerically)."""
        return self.pair_kernel is not None and self.diag_kernel is not None

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


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

def _builtin():
    from scipy.special import erf  # noqa: PLC0415

    def closed(name):
        # the closed forms of docs/theory.md §9, imported when first used (the theory package imports this module)
        def pair(c, qa, qb, derivatives=False):
            from .theory import nonlinear_kernels as nk  # noqa: PLC0415

            return nk.pair_kernel(c, qa, qb, name, derivatives=derivatives)

        def diag(q, derivative=False):
            from .theory import nonlinear_kernels as nk  # noqa: PLC0415

            return nk.diag_kernel(q, name, derivative=derivative)

        return pair, diag

    def torch_erf(h):
        import torch  # noqa: PLC0415

        return torch.erf(h)

    def torch_relu(h):
        import torch  # noqa: PLC0415

        return torch.relu(h)

    pk, dk = closed("linear")
    register_activation(Activation(
        "linear", lambda h: h, phi_torch=lambda h: h, dphi=np.ones_like, label="linear", linear=True, odd=True,
        phi_prime_max=1.0, phi_second_max=0.0, cost=2.0, pair_kernel=pk, diag_kernel=dk))
    pk, dk = closed("erf")
    register_activation(Activation(
        "erf", erf, phi_torch=torch_erf, dphi=lambda h: (2.0 / math.sqrt(math.pi)) * np.exp(-h * h), label="erf",
        odd=True, phi_prime_max=2.0 / math.sqrt(math.pi),
        phi_second_max=4.0 / math.sqrt(math.pi) / math.sqrt(2.0 * math.e), cost=8.0, pair_kernel=pk, diag_kernel=dk))
    pk, dk = closed("relu")
    register_activation(Activation(
        "relu", lambda h: np.maximum(h, 0.0), phi_torch=torch_relu, dphi=lambda h: (h > 0).astype(np.float64),
        label="ReLU", default_ansatz="gaussian_mean", phi_prime_max=1.0, phi_second_max=0.0, cost=11.0,
        pair_kernel=pk, diag_kernel=dk))


_builtin()
