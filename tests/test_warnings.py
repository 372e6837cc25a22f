"""Every warning of the library points at the user's line that called it (mastcore/_plumbing/warn.py), not at a line inside
mastcore, whatever the depth of the call (a solver, its decorator, the disk cache, a sweep)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mastcore as mc


def _problem(P=12, D=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((P, D)), np.sign(rng.standard_normal(P))


def _caught(call):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        call()
    return w


@pytest.mark.parametrize("name", ["one_loop", "one_loop_nngp", "tree_level", "sweep", "spec", "cached"])
def test_warnings_point_at_the_callers_line(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    X, y = _problem()
    narrow = mc.NetworkSpec(width=4, chi=4.0)  # N = 4 < rank X = 12: the loop expansion breaks down (flagged)
    calls = {
        "one_loop": (lambda: mc.one_loop(X, y, narrow, variant="perturbative"), mc.LoopBreakdownWarning),
        "one_loop_nngp": (lambda: mc.one_loop(X, y, narrow.replace(activation="erf"), variant="nngp"),
                          mc.LoopBreakdownWarning),
        "tree_level": (lambda: mc.tree_level(X, y, narrow), mc.LoopBreakdownWarning),
        "sweep": (lambda: mc.sweep(X, y, narrow, chis=[1.0, 4.0], methods=("tree",)), mc.LoopBreakdownWarning),
        "spec": (lambda: mc.NetworkSpec(width=4, chi=8.0), mc.ScaleWarning),
        "cached": (lambda: mc.tree_level(X, y, narrow, cache=True), mc.LoopBreakdownWarning),
    }
    call, category = calls[name]
    caught = [w for w in _caught(call) if issubclass(w.category, category)]
    assert caught, f"{name}: no {category.__name__}"
    for w in caught:
        assert w.filename == __file__, (name, w.filename, w.lineno, str(w.message))
