"""Solver flags in words for people, and plain text made safe for markdown (no streamlit, no maths).

The library marks its results with short flag names (``width_below_2P``, ``loop_correction_large``, ...;
mastcore/theory/loops/result.py); the app shows the sentence of each flag instead (docs/theory.md §6, §12).
"""
from __future__ import annotations

import re

from .state import md_code

__all__ = ["FLAG_WORDS", "flag_sentence", "md_text"]

#: flag → sentence ({N}: the width, {P}: the training points). Every flag the library sets has one.
FLAG_WORDS = {
    "width_below_2P": "the width N = {N} is below twice the number of independent training examples (2r, with "
                      "r ≤ P = {P}): the one loop is only approximate here — compare it with the exact posterior "
                      "(docs/theory.md §6.6)",
    "width_below_rank": "the width N = {N} is below the number of independent training examples (r ≤ P = {P}): the "
                        "one loop's 1/N expansion breaks down here — increase N",
    "loop_correction_large": "the one-loop correction is more than half of the tree-level discrepancy: the 1/N "
                             "expansion is not converging — increase N",
    "M_not_positive_definite": "the fluctuations around the saddle are unstable: the one loop is undefined here",
    "mc_error_large": "the Monte-Carlo error of the sampled one loop (its error bar: the loop's samples and, around "
                      "the particle saddle, the saddle's own) is large compared with its correction to the tree level "
                      "(docs/theory.md §12.10)",
    "nongaussian_large": "the neuron law is far from a Gaussian (the network learns features): the renormalised one "
                         "loop does not apply here (docs/theory.md §12.5)",
    "several_maxima": "the posterior of the kernel scale has several maxima: an expansion around one of them is not "
                      "reliable — use the exact posterior",
    "tree_not_converged": "the tree-level saddle it starts from did not converge",
    "band_unavailable": "its error band could not be estimated here (the reference theory it is measured against "
                        "could not be computed): the value is shown without a band",
    "dt_restarted": "the Langevin step was made smaller after the training diverged",
}


def flag_sentence(flags: str, *, N: int, P: int) -> str:
    """The sentences of comma-separated ``flags`` (unknown names are shown as code), joined by '; '."""
    out = []
    for f in (s.strip() for s in str(flags).split(",")):
        if not f:
            continue
        out.append(FLAG_WORDS[f].format(N=N, P=P) if f in FLAG_WORDS else f"flag {md_code(f, limit=40)}")
    return "; ".join(out)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md_text(text) -> str:
    """``text`` with markdown's special characters escaped: shown as written (no emphasis, links or code)."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"[\r\n\t]+", " ", str(text)))
