"""Kernels: the NNGP and the kernel of every activation on a Gaussian weight law (docs/theory.md §3, §9.1, §9.7).

* :mod:`.nngp` — the NNGP kernel and its GP predictor (``mc.nngp``, ``mc.nngp_kernel``), the memoised train kernel;
* :mod:`.gaussian_law` — k and its derivatives for any activation under v ~ N(μ, Σ), used by the tree level;
* :mod:`.closed_forms` — the closed forms of linear, erf (arcsine) and ReLU (arc-cosine) networks;
* :mod:`.quadrature` — Gauss–Hermite quadrature for any other φ.

The modules import nothing else of :mod:`mastcore.theory`. This ``__init__`` re-exports nothing, so no function
hides a module of the same name (``mastcore.theory.kernels.nngp`` is the module; ``mc.nngp`` the function).
"""
