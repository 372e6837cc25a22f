"""The network atlas: Langevin-trained ensembles at the built-in presets, stored with the package.

The atlas is ground truth for the charts: at each preset (the dashboard's "Teaching" and "Paper Fig. 2" settings)
and activation, ensembles of networks trained by :func:`mastcore.train_langevin` at χ values spanning [1, N], with
the train and test mean(y·Δ) and mean(Δ²) and their standard errors (docs/theory.md §13.5), split-R̂, wall time and
full provenance (mastcore version, a hash of the trainer's source, options, seed) for every point. It is made by
``python -m mastcore atlas`` (:mod:`mastcore.atlas.build`) and read by :func:`load_atlas`.

A point made by other trainer code (its ``trainer_hash`` differs from :func:`trainer_hash` now) is still returned,
with ``matches_trainer`` False, so that a chart can flag it instead of showing it silently.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = [
    "ATLAS_FILE",
    "ATLAS_PRESETS",
    "FORMAT",
    "MAX_BYTES",
    "OBSERVABLES",
    "TRAINER_MODULES",
    "Atlas",
    "atlas_points",
    "load_atlas",
    "preset_for",
    "trainer_hash",
]

#: The packaged data file (JSON).
ATLAS_FILE = Path(__file__).with_name("atlas.json")
#: Version of the file's layout; :func:`load_atlas` refuses others.
FORMAT = 1
#: Largest data file the package ships (bytes).
MAX_BYTES = 2 * 2**20
#: The modules whose source decides what the trainer computes: the dynamics and its estimators
#: (docs/theory.md §13), the row-space basis of the linear fast path, and split-R̂ / the agreement test of the
#: ``converged`` flag (§14.2). Thread policy, caching and result plumbing do not change the numbers.
TRAINER_MODULES = ("mastcore.posterior.langevin", "mastcore._linalg", "mastcore.metrics")
#: The settings the atlas is made for. Each is the dashboard's preset of the same label (mastcore_dashboard/state.py
#: PRESETS, checked by tests/test_atlas.py): task and network, the activation left open.
ATLAS_PRESETS = {
    "teaching": dict(label="Teaching (small, fast)",
                     task=dict(name="ising", P=20, P_test=300, D=50, p=0.1, seed=0),
                     network=dict(width=50, kappa0=1.0, g_v=0.5, g_w=0.5)),
    "fig2": dict(label="Paper Fig. 2",
                 task=dict(name="ising", P=80, P_test=1000, D=200, p=0.1, seed=0),
                 network=dict(width=100, kappa0=1.0, g_v=0.5, g_w=0.5)),
}
#: What a point holds per split ("train", "test"), each with its standard error ("<name>_se"), and the train-only
#: rescaling factor "s": the scalar s for which the GP with kernel s·C0 has the networks' train mean(y·Δ)
#: (docs/theory.md §4.3: the tree-level predictor is GP(s·K_B), K_B = C0 + O(1/N)).
OBSERVABLES = ("mean_y_delta", "mean_sq_delta", "s")
#: Fields every point must have (their provenance included).
POINT_FIELDS = ("preset", "activation", "chi", "train", "test", "s", "s_se", "r_hat", "converged", "flags",
                "seconds", "cpu_seconds", "seed", "options", "version", "trainer_hash", "dt", "device")


def trainer_hash() -> str:
    """SHA-256 (16 hex digits) of the source text of :data:`TRAINER_MODULES` (contents, not modification times)."""
    h = hashlib.sha256()
    for name in TRAINER_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:  # pragma: no cover  (the package is incomplete)
            raise RuntimeError(f"cannot find the source of {name}")
        h.update(name.encode())
        h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Atlas:
    """A loaded atlas. presets : {key: {label, task, network}}; points : list of point dicts (module docstring);
    path : where it was read from; created : when it was made; trainer : the hash of the trainer code now."""

    presets: dict
    points: list
    path: str = ""
    created: str = ""
    trainer: str = field(default_factory=trainer_hash)

    @property
    def matches_trainer(self) -> bool:
        """True when every point was made by the trainer code of this installation."""
        return all(p["trainer_hash"] == self.trainer for p in self.points)

    def keys(self) -> list[tuple[str, str]]:
        """(preset, activation) pairs present, in file order."""
        return list(dict.fromkeys((p["preset"], p["activation"]) for p in self.points))

    def points_of(self, preset: str, activation: str) -> list:
        return sorted((p for p in self.points if p["preset"] == preset and p["activation"] == activation),
                      key=lambda p: p["chi"])


def _number(where: str, value, *, positive: bool = False, allow_nan: bool = False) -> float:
    if value is None and allow_nan:  # NaN is stored as null (strict JSON)
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"atlas: {where} must be a number; got {value!r}")
    v = float(value)
    if math.isnan(v) and allow_nan:
        return v
    if not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"atlas: {where} must be a finite{' positive' if positive else ''} number; got {value!r}")
    return v


def _validate(data) -> None:
    """Raise ValueError naming the first field that is missing or malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"atlas: the file must hold a JSON object; got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ValueError(f"atlas: 'format' must be {FORMAT}; got {data.get('format')!r}")
    presets, points = data.get("presets"), data.get("points")
    if not isinstance(presets, dict) or not presets:
        raise ValueError("atlas: 'presets' must be a non-empty object")
    for key, p in presets.items():
        if not isinstance(p, dict) or not {"task", "network"} <= set(p):
            raise ValueError(f"atlas: preset {key!r} must have 'task' and 'network'")
    if not isinstance(points, list):
        raise ValueError("atlas: 'points' must be a list")
    for k, pt in enumerate(points):
        where = f"point {k}"
        if not isinstance(pt, dict):
            raise ValueError(f"atlas: {where} must be an object")
        missing = [f for f in POINT_FIELDS if f not in pt]
        if missing:
            raise ValueError(f"atlas: {where} lacks {', '.join(repr(m) for m in missing)}")
        if pt["preset"] not in presets:
            raise ValueError(f"atlas: {where} has preset {pt['preset']!r}, not among {tuple(presets)}")
        where = f"point {k} ({pt['preset']}, {pt['activation']}, chi={pt['chi']!r})"
        _number(f"{where} 'chi'", pt["chi"], positive=True)
        _number(f"{where} 'seconds'", pt["seconds"], positive=True)
        _number(f"{where} 'r_hat'", pt["r_hat"], allow_nan=True)
        for split in ("train", "test"):
            if not isinstance(pt[split], dict):
                raise ValueError(f"atlas: {where} '{split}' must be an object")
            for obs in OBSERVABLES[:2]:
                _number(f"{where} {split} {obs!r}", pt[split].get(obs))
                _number(f"{where} {split} '{obs}_se'", pt[split].get(f"{obs}_se"), allow_nan=True)
        for name in ("version", "trainer_hash"):
            if not isinstance(pt[name], str) or not pt[name]:
                raise ValueError(f"atlas: {where} {name!r} must be a non-empty string; got {pt[name]!r}")
        if not isinstance(pt["options"], dict) or not isinstance(pt["seed"], int):
            raise ValueError(f"atlas: {where} needs 'options' (an object) and 'seed' (an integer)")


def load_atlas(path: str | Path | None = None) -> Atlas:
    """Read and validate an atlas file (default: the packaged :data:`ATLAS_FILE`).

    Raises FileNotFoundError when there is none, ValueError naming the field when it is malformed or larger than
    :data:`MAX_BYTES`.
    """
    path = Path(path) if path is not None else ATLAS_FILE
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"atlas: {path} is {size} bytes, more than the {MAX_BYTES} the package may ship")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"atlas: {path} is not valid JSON ({exc})") from None
    _validate(data)
    return Atlas(presets=data["presets"], points=data["points"], path=str(path), created=data.get("created", ""))


def preset_for(atlas: Atlas, *, task: dict, network: dict) -> str | None:
    """The key of the atlas preset whose task and network (activation aside) equal the given ones, or None.

    ``task`` : name, P, P_test, D, p, seed; ``network`` : width, kappa0, g_v, g_w (extra keys are ignored)."""
    for key, p in atlas.presets.items():
        if all(_same(task.get(k), v) for k, v in p["task"].items()) and all(
                _same(network.get(k), v) for k, v in p["network"].items()):
            return key
    return None


def _same(a, b) -> bool:
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(a, b, rel_tol=1e-12)
    return a == b


def atlas_points(preset: str, activation: str, split: str = "train", observable: str = "mean_y_delta", *,
                 atlas: Atlas | None = None) -> pd.DataFrame:
    """The atlas points of one preset and activation: columns chi, value, se, r_hat, converged, flags,
    matches_trainer (sorted by χ; empty when the atlas has none).

    split : "train" or "test"; observable : one of :data:`OBSERVABLES` ("s" is train only).
    """
    if split not in ("train", "test"):
        raise ValueError(f"'split' must be 'train' or 'test'; got {split!r}")
    if observable not in OBSERVABLES:
        raise ValueError(f"'observable' must be one of {OBSERVABLES}; got {observable!r}")
    if observable == "s" and split != "train":
        raise ValueError("'observable' 's' is defined on the train split only; use split='train'")
    atlas = load_atlas() if atlas is None else atlas
    if preset not in atlas.presets:
        raise ValueError(f"'preset' must be one of {tuple(atlas.presets)}; got {preset!r}")
    rows = []
    for p in atlas.points_of(preset, activation):
        if observable == "s":
            value, se = p["s"], p["s_se"]
        else:
            value, se = p[split][observable], p[split][f"{observable}_se"]
        rows.append(dict(chi=float(p["chi"]), value=_float(value), se=_float(se), r_hat=_float(p["r_hat"]),
                         converged=bool(p["converged"]), flags=tuple(p["flags"]),
                         matches_trainer=p["trainer_hash"] == atlas.trainer))
    return pd.DataFrame(rows, columns=["chi", "value", "se", "r_hat", "converged", "flags", "matches_trainer"])


def _float(v) -> float:
    return float("nan") if v is None else float(v)
