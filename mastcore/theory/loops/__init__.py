"""The one loop: Gaussian fluctuations around a saddle (docs/theory.md §5–§6, §12).

* :mod:`.one_loop` — the public ``mc.one_loop``: its variants and their dispatch;
* :mod:`.variants` — the erf/ReLU and expansion variants and the rule of ``variant="auto"`` (§12.4);
* :mod:`.linear` — linear networks: the structured O(P³) form around the tree saddle (§6);
* :mod:`.nonlinear` — erf/ReLU: the one loop around the saddle from sampled cumulants (§12.2), with
  :mod:`.cumulants`, its cumulant contractions;
* :mod:`.nngp_expansion` — the 1/N expansion around the NNGP (§12.3);
* :mod:`.result` — ``OneLoopResult``, ``NonlinearOneLoopResult`` and the breakdown flags.

Imports :mod:`mastcore.theory.kernels` and :mod:`mastcore.theory.tree`; the variants also dispatch to
:mod:`mastcore.theory.renormalised`. This ``__init__`` re-exports nothing.
"""
