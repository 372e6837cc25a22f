"""The tree level: the saddle point of the kernel action (docs/theory.md §4, §9).

* :mod:`.level` — the entry points: ``mc.tree_level`` (any activation) and ``nonlinear_tree_level``, which picks the
  erf/ReLU ansatz;
* :mod:`.linear` — the saddle of linear networks (§4), its result ``TreeResult`` and the row-space reduction;
* :mod:`.nonlinear` — erf/ReLU networks: the row-space problem, the objective J and the zero-mean Gaussian
  ansatz (§9.2); :mod:`.gaussian_mean` — the Gaussian with a mean (§9.3); :mod:`.particles` — the exact saddle by
  MCMC particles (§9.4); :mod:`.result` — what they all return (``NonlinearTreeResult``, built by ``finish``);
* :mod:`.neuron_law` — samples of the hidden features under a neuron law (§12.2–§12.3);
* :mod:`.likelihood` — L(C) and its dual variables; :mod:`.features` — what the tree level says about features.

Imports :mod:`mastcore.theory.kernels` only (and the solver defaults). This ``__init__`` re-exports nothing.
"""
