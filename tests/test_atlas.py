"""The network atlas (mastcore.atlas): the packaged file, its provenance, a rerun of one point, the exact linear
posterior, a tampered trainer hash, the build command, and the trained-network points on the dashboard's charts."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import mastcore as mc
from mastcore import atlas as ma
from mastcore.atlas.build import atlas_chis, build_atlas, rescaling_factor
from mastcore.cli import main
from mastcore.metrics import summarize

ROOT = Path(__file__).resolve().parent.parent
#: Agreement of two independent Monte-Carlo estimates, in combined standard errors (|a − b| / √(se_a² + se_b²)):
#: 4 s.e. fails by chance with probability 6e-5 per comparison.
Z_MAX = 4.0
#: χ values per (preset, activation) the issue asks for.
MIN_CHIS = 7
ACTS = ("linear", "erf", "relu")


@pytest.fixture(scope="module")
def atlas():
    return ma.load_atlas()


def _task(preset: str):
    return mc.make_task(mc.TaskSpec(**ma.ATLAS_PRESETS[preset]["task"]))


# --- the packaged file --------------------------------------------------------------------------------------

def test_packaged_atlas_loads_validates_and_is_small(atlas):
    assert ma.ATLAS_FILE.stat().st_size <= ma.MAX_BYTES
    assert "teaching" in atlas.presets
    for pt in atlas.points:
        assert re.fullmatch(r"[0-9a-f]{16}", pt["trainer_hash"])
        assert pt["version"] and pt["seconds"] > 0 and pt["cpu_seconds"] > 0
        assert isinstance(pt["seed"], int) and pt["options"]["seed"] == pt["seed"]
        assert pt["options"]["steps"] > pt["options"]["burn_in"] >= 0 and pt["options"]["ensemble"] >= 2
        assert math.isfinite(pt["r_hat"]) and pt["converged"] and "not_converged" not in pt["flags"]
        for split in ("train", "test"):
            for obs in ("mean_y_delta", "mean_sq_delta"):
                assert 0 < pt[split][obs] and 0 < pt[split][f"{obs}_se"] < 0.02 * pt[split][obs]


def test_every_preset_present_has_all_activations_at_seven_chis_spanning_one_to_n(atlas):
    for preset in atlas.presets:
        N = atlas.presets[preset]["network"]["width"]
        for act in ACTS:
            chis = [p["chi"] for p in atlas.points_of(preset, act)]
            assert len(chis) >= MIN_CHIS, (preset, act, chis)
            assert min(chis) == 1.0 and max(chis) == float(N), (preset, act, chis)


def test_atlas_presets_are_the_dashboards_presets():
    from mastcore_dashboard.state import PRESETS  # noqa: PLC0415

    for p in ma.ATLAS_PRESETS.values():
        dash = PRESETS[p["label"]]
        assert {k: dash[k if k != "name" else "task"] for k in p["task"]} == p["task"]
        assert {k: dash[k] for k in p["network"]} == p["network"]


def test_packaged_atlas_was_made_by_this_trainer(atlas):
    assert atlas.matches_trainer, (
        f"the packaged atlas was made by other trainer code (now {ma.trainer_hash()}); regenerate it with "
        "python -m mastcore atlas (docs/library.md)")


def test_trainer_hash_is_of_the_sources_not_their_times(tmp_path):
    h = ma.trainer_hash()
    assert h == ma.trainer_hash() and re.fullmatch(r"[0-9a-f]{16}", h)
    import hashlib  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    ref = hashlib.sha256()
    for name in ma.TRAINER_MODULES:
        ref.update(name.encode())
        ref.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    assert h == ref.hexdigest()[:16]


# --- independent checks ------------------------------------------------------------------------------------

def test_rerun_of_one_point_with_another_seed_agrees_within_error_bars(atlas):
    """Teaching, linear, χ = 1 (the cheapest point) retrained with a short run and a different seed."""
    pt = next(p for p in atlas.points_of("teaching", "linear") if p["chi"] == 1.0)
    task = _task("teaching")
    spec = mc.NetworkSpec(chi=1.0, activation="linear", **ma.ATLAS_PRESETS["teaching"]["network"])
    opts = mc.LangevinOptions(**{**pt["options"], "steps": 3000, "burn_in": 300, "seed": pt["seed"] + 7919})
    s = summarize(mc.train_langevin(task.X, task.y, spec, task.X_test, options=opts), task.y, task.y_test)
    for split in ("train", "test"):
        for obs in ("mean_y_delta", "mean_sq_delta"):
            a, se_a = pt[split][obs], pt[split][f"{obs}_se"]
            b, se_b = s[f"{split}_{obs}"], s[f"{split}_{obs}_se"]
            z = abs(a - b) / math.hypot(se_a, se_b)
            assert z <= Z_MAX, (split, obs, a, se_a, b, se_b, z)


def test_linear_points_agree_with_the_exact_quadrature(atlas):
    """The exact posterior mean of the linear network (1-D quadrature, docs/theory.md §7.4): every linear atlas
    point within Z_MAX of its standard error."""
    for preset in atlas.presets:
        task = _task(preset)
        for pt in atlas.points_of(preset, "linear"):
            spec = mc.NetworkSpec(chi=pt["chi"], activation="linear", **ma.ATLAS_PRESETS[preset]["network"])
            q = mc.posterior_quadrature(task.X, task.y, spec, task.X_test)
            exact = mc.discrepancies(task.y, q.f_train)["mean_y_delta"], mc.discrepancies(task.y_test, q.f_test)
            for split, ref in (("train", exact[0]), ("test", exact[1]["mean_y_delta"])):
                z = abs(pt[split]["mean_y_delta"] - ref) / pt[split]["mean_y_delta_se"]
                assert z <= Z_MAX, (preset, pt["chi"], split, pt[split]["mean_y_delta"], ref, z)


def test_rescaling_factor_inverts_the_gp_with_a_rescaled_kernel():
    """s from the eigen-sum formula against a GP predictor (Cholesky) made with s0·C0."""
    task = _task("teaching")
    spec = mc.NetworkSpec(chi=1.0, **ma.ATLAS_PRESETS["teaching"]["network"])
    C0 = mc.nngp_kernel(task.X, task.X, spec)
    for s0 in (0.7, 1.0, 2.5):
        f, _ = mc.gp_predict(s0 * C0, task.y, spec.kappa0)
        s, se = rescaling_factor(C0, task.y, spec.kappa0, mc.discrepancies(task.y, f)["mean_y_delta"], 1e-3)
        assert s == pytest.approx(s0, rel=1e-9) and se > 0
    assert math.isnan(rescaling_factor(C0, task.y, spec.kappa0, 2.0)[0])  # above mean(y²): no s matches


# --- provenance: a tampered hash, a malformed file -------------------------------------------------------------

def _copy(tmp_path, edit) -> Path:
    data = json.loads(ma.ATLAS_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "atlas.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_tampered_hash_is_flagged(tmp_path):
    def tamper(data):
        for p in data["points"]:
            if p["preset"] == "teaching" and p["activation"] == "erf":
                p["trainer_hash"] = "0" * 16

    a = ma.load_atlas(_copy(tmp_path, tamper))
    assert not a.matches_trainer
    erf = ma.atlas_points("teaching", "erf", atlas=a)["matches_trainer"].to_numpy()
    relu = ma.atlas_points("teaching", "relu", atlas=a)["matches_trainer"].to_numpy()
    assert len(erf) and not erf.any() and relu.all()


def test_tampered_hash_is_flagged_on_the_chart(tmp_path, monkeypatch):
    from mastcore_dashboard import atlas_view  # noqa: PLC0415
    from mastcore_dashboard.state import Settings  # noqa: PLC0415

    path = _copy(tmp_path, lambda d: [p.update(trainer_hash="f" * 16) for p in d["points"]])
    monkeypatch.setattr(atlas_view, "ATLAS_FILE", path)
    atlas_view._MEMO.clear()
    settings = Settings.from_preset("Teaching (small, fast)").replace(activation="erf")
    (trace,) = atlas_view.regimes_traces(settings, "train", "mean_y_delta")
    assert trace.name == atlas_view.LABEL + atlas_view.STALE
    assert "Made by other trainer code" in atlas_view.caption(settings)
    atlas_view._MEMO.clear()


def test_chart_points_only_at_a_preset():
    from mastcore_dashboard import atlas_view  # noqa: PLC0415
    from mastcore_dashboard.state import Settings  # noqa: PLC0415

    atlas_view._MEMO.clear()
    settings = Settings.from_preset("Teaching (small, fast)").replace(activation="relu")
    (trace,) = atlas_view.regimes_traces(settings, "test", "mean_sq_delta")
    assert trace.name == atlas_view.LABEL and len(trace.x) >= MIN_CHIS and trace.error_y.visible
    assert atlas_view.features_traces(settings)
    for changed in (dict(P=21), dict(kappa0=0.5), dict(seed=1), dict(g_w=0.6)):
        assert atlas_view.regimes_traces(settings.replace(**changed), "train", "mean_y_delta") == []
        assert atlas_view.caption(settings.replace(**changed)) is None


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format=99), "'format'"),
    (lambda d: d["points"][0].pop("trainer_hash"), "'trainer_hash'"),
    (lambda d: d["points"][0].update(chi=-1), "'chi'"),
    (lambda d: d["points"][0]["train"].update(mean_y_delta="x"), "mean_y_delta"),
    (lambda d: d["points"][0].update(preset="nope"), "preset 'nope'"),
])
def test_malformed_atlas_is_refused_naming_the_field(tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        ma.load_atlas(_copy(tmp_path, edit))


def test_oversized_atlas_is_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (ma.MAX_BYTES + 1))
    with pytest.raises(ValueError, match="more than"):
        ma.load_atlas(path)


def test_atlas_points_validates_its_arguments(atlas):
    with pytest.raises(ValueError, match="'split'"):
        ma.atlas_points("teaching", "erf", "validation", atlas=atlas)
    with pytest.raises(ValueError, match="'observable'"):
        ma.atlas_points("teaching", "erf", "train", "error01", atlas=atlas)
    with pytest.raises(ValueError, match="'preset'"):
        ma.atlas_points("nope", "erf", atlas=atlas)


# --- building ---------------------------------------------------------------------------------------------

def test_atlas_chis_span_one_to_n():
    assert atlas_chis(50, 7)[0] == 1.0 and atlas_chis(50, 7)[-1] == 50.0 and len(atlas_chis(50, 7)) == 7
    with pytest.raises(ValueError, match="'chis'"):
        atlas_chis(50, [0.5, 2])
    with pytest.raises(ValueError, match="'chis'"):
        atlas_chis(50, 1)


def test_build_keeps_other_pairs_and_records_provenance(tmp_path):
    out = tmp_path / "a.json"
    opts = mc.LangevinOptions(ensemble=4, steps=300, burn_in=30, seed=3)
    calls = []
    build_atlas(["teaching"], ["linear"], [1.0, 50.0], opts, lambda *a: calls.append(a[:2]), out=out, cache=False)
    a = build_atlas(["teaching"], ["relu"], [1.0], opts, out=out, cache=False)
    assert calls == [(0, 2), (1, 2), (2, 2)]
    assert a.keys() == [("teaching", "linear"), ("teaching", "relu")] and a.matches_trainer
    pt = a.points_of("teaching", "relu")[0]
    assert pt["options"] == opts.to_dict() and pt["seed"] == 3 and pt["version"] == mc.__version__
    with pytest.raises(ValueError, match="'presets'"):
        build_atlas(["nope"], ["linear"], 2, opts, out=out)
    with pytest.raises(ValueError, match="'activations'"):
        build_atlas(["teaching"], ["tanh2"], 2, opts, out=out)


def test_atlas_command_prints_an_estimate_and_writes_the_file(tmp_path, capsys):
    out = tmp_path / "cli.json"
    rc = main(["atlas", "--presets", "teaching", "--activations", "linear", "--n-chi", "2", "--steps", "200",
               "--ensemble", "4", "--no-progress", "--no-cache", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "estimated" in text and "wrote" in text
    assert len(ma.load_atlas(out).points) == 2
    assert main(["atlas", "--presets", "nope", "--out", str(out)]) == 2
    assert main(["atlas", "--presets", "fig2", "--time-budget", "1", "--out", str(out)]) == 2
    assert len(ma.load_atlas(out).points) == 2  # refused before anything ran


def test_atlas_file_is_package_data():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"mastcore.atlas"' in text and "atlas.json" in text


# --- the dashboard: points with error bars, no click ----------------------------------------------------------

def _atlas_trace(at):
    for chart in at.get("plotly_chart"):
        for t in json.loads(chart.proto.spec)["data"]:
            if t.get("meta") == "atlas":
                return t
    return None


def _values(v) -> list:
    """A plotly JSON array as a list (numpy arrays travel as base64 'bdata' with a dtype)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64  # noqa: PLC0415

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


_QUERY = {"teaching": {}, "fig2": {"P": "80", "Ptest": "1000", "D": "200", "N": "100"}}


@pytest.mark.parametrize("preset", [pytest.param("teaching"), pytest.param("fig2", marks=pytest.mark.slow)])
@pytest.mark.parametrize("act", ["erf", "relu"])
def test_regimes_page_shows_atlas_points_with_error_bars(preset, act, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415

    if (preset, act) not in ma.load_atlas().keys():
        pytest.skip(f"the packaged atlas has no {preset} points (python -m mastcore atlas --presets {preset})")
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params = {**_QUERY[preset], "act": act}
    at.run()
    at.switch_page("pages/regimes.py").run()
    assert not at.exception, [e.value for e in at.exception]
    trace = _atlas_trace(at)
    assert trace is not None and trace["name"] == "trained networks (atlas)"
    assert trace["error_y"]["visible"] and len(_values(trace["x"])) >= MIN_CHIS
    assert np.all(np.asarray(_values(trace["error_y"]["array"])) > 0)
    assert any("trained networks (atlas)" in c.value for c in at.caption)


def test_feature_learning_page_shows_atlas_points(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415

    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/feature_learning.py").run()
    assert not at.exception, [e.value for e in at.exception]
    trace = _atlas_trace(at)
    assert trace is not None and trace["error_y"]["visible"]
