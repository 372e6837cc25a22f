"""Algorithm 1 (anneal): warm-started sweeps equal independent per-χ solves; callbacks; errors."""
from __future__ import annotations

import numpy as np
import pytest

import mastcore as mc

#: Warm and cold starts converge to the same saddle (tolerance of issue 2's brief).
TOL_SAME_SADDLE = 1e-10


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


@pytest.fixture(scope="module")
def fig2():
    X, y = mc.ising(80 + 100, 200, 0.1, seed=0)
    return X[:80], y[:80], X[80:], y[80:], mc.NetworkSpec(width=100)


def test_warm_started_sweep_equals_independent_solves(fig2):
    X, y, Xs, ys, spec = fig2
    chis = np.logspace(0, 2, 12)
    calls = []
    sweep = mc.anneal(X, y, spec, chis[::-1], X_test=Xs, progress=lambda i, n, chi: calls.append((i, n, chi)))
    np.testing.assert_allclose(sweep.chis, chis)  # sorted increasingly
    assert [c[0] for c in calls] == list(range(1, 13)) and all(c[1] == 12 for c in calls)
    np.testing.assert_allclose([c[2] for c in calls], chis)
    for chi, r in zip(chis, sweep.results["tree"]):
        ref = mc.tree_level(X, y, spec.replace(chi=float(chi)), X_test=Xs, strict=True)
        np.testing.assert_allclose(r.f_train, ref.f_train, atol=TOL_SAME_SADDLE)
        np.testing.assert_allclose(r.f_test, ref.f_test, atol=TOL_SAME_SADDLE)
        np.testing.assert_allclose(r.C, ref.C, atol=TOL_SAME_SADDLE)
        assert r.converged and r.spec.chi == pytest.approx(chi)
    nngp = mc.nngp(X, y, spec, X_test=Xs)
    for r in sweep.results["nngp"]:
        np.testing.assert_array_equal(r.f_train, nngp.f_train)


def test_table_and_at(fig2):
    X, y, Xs, ys, spec = fig2
    sweep = mc.anneal(X, y, spec, [1, 10, 100], X_test=Xs)
    rows = sweep.table(y, ys)
    assert len(rows) == 6 and {r["method"] for r in rows} == {"nngp", "tree"}
    tree_rows = [r for r in rows if r["method"] == "tree"]
    d = [r["train_mean_y_delta"] for r in tree_rows]
    assert d[0] > d[1] > d[2]  # feature learning lowers mean(y·Δ) with χ (THEORY §10)
    assert all(r["converged"] and r["residual"] < 1e-10 for r in tree_rows)
    assert "test_error01" in rows[0]
    assert sweep.at("tree", 9.0) is sweep.results["tree"][1]
    assert set(sweep.seconds) == {"nngp", "tree"}


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(methods=("tree", "bogus")), "'methods'"),
        (dict(chis=[]), "'chis'"),
        (dict(chis=[1, -2]), "'chis'"),
        (dict(chis=[1, float("nan")]), "'chis'"),
    ],
)
def test_bad_arguments(fig2, kw, match):
    X, y, Xs, ys, spec = fig2
    args = {"chis": [1, 2], **kw}
    with pytest.raises(ValueError, match=match):
        mc.anneal(X, y, spec, **args)


def test_register_method(fig2):
    X, y, Xs, ys, spec = fig2
    seen = []

    def step(X, y, spec, X_test, current, previous, **kw):
        seen.append((spec.chi, "tree" in current, previous.get("_probe")))
        return current["tree"]

    mc.register_method("_probe", step)
    sweep = mc.anneal(X, y, spec, [1, 3], methods=("tree", "_probe"))
    assert seen[0][:2] == (1.0, True) and seen[0][2] is None
    assert seen[1][2] is sweep.results["_probe"][0]


def test_exact_method_loads_lazily():
    # "exact" registers when mastcore.gibbs is imported; anneal loads it on demand (fresh interpreter)
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import numpy as np, mastcore as mc\n"
        "X, y = mc.ising(6, 4, 0.1, seed=0)\n"
        "s = mc.anneal(X, y, mc.NetworkSpec(width=5), [1, 5], methods=('nngp', 'exact'), n_chains=4, n_sweeps=30,"
        " burn_in=3)\n"
        "print(type(s.at('exact', 5)).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("PosteriorResult")
