"""The renormalised kernel u*·C0 and the one loop around it (docs/theory.md §9.5, §12.5, §12.9).

* :mod:`.kernel` — the renormalised kernel (``mc.rescaled_kernel``, method name ``"rescaled"``: the public names
  keep their old word);
* :mod:`.one_loop` — the renormalised one loop (``mc.one_loop(..., variant="renormalised")``);
* :mod:`.prior_features` — prior feature samples shared across χ, with a Gaussian control variate (§12.9).

This ``__init__`` re-exports nothing.
"""
