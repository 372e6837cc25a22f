"""Trained-network points from the packaged atlas (mastcore.atlas) for the charts, at the presets' settings only.

The pages add :func:`regimes_traces` / :func:`features_traces` to their figures and show :func:`caption` under
them. Points appear only when the sidebar's task and network equal an atlas preset's (activation included); a
point made by other trainer code (its hash differs from the trainer's source now) is drawn grey and named
"(made by other trainer code)", and the caption says so.
"""
from __future__ import annotations

import plotly.graph_objects as go

from mastcore.atlas import ATLAS_FILE, Atlas, atlas_points, load_atlas, preset_for

from .state import Settings

__all__ = ["FEATURES_WHAT", "LABEL", "STALE", "atlas_for", "caption", "features_traces", "regimes_traces"]

#: Legend name of the atlas points, and what is added to it for points made by other trainer code.
LABEL = "trained networks (atlas)"
STALE = " (made by other trainer code)"
_COLOR, _STALE_COLOR = "#111111", "#9E9E9E"
_MEMO: dict = {}


def _atlas() -> Atlas | None:
    """The packaged atlas (read again when the file changes), or None when it is missing or malformed."""
    try:
        stamp = ATLAS_FILE.stat().st_mtime_ns
    except OSError:
        return None
    if _MEMO.get("stamp") != stamp:
        try:
            atlas = load_atlas(ATLAS_FILE)
        except (OSError, ValueError):
            atlas = None
        _MEMO.update(stamp=stamp, atlas=atlas)
    return _MEMO["atlas"]


def atlas_for(settings: Settings) -> tuple[Atlas, str] | None:
    """(atlas, preset key) when the settings are an atlas preset's and the atlas has their activation, else None."""
    atlas = _atlas()
    if atlas is None:
        return None
    key = preset_for(atlas, task=dict(name=settings.task, P=settings.P, P_test=settings.P_test, D=settings.D,
                                      p=settings.p, seed=settings.seed),
                     network=dict(width=settings.width, kappa0=settings.kappa0, g_v=settings.g_v, g_w=settings.g_w))
    if key is None or (key, settings.activation) not in atlas.keys():
        return None
    return atlas, key


def _trace(pts, **axes) -> go.Scatter:
    fresh = bool(pts["matches_trainer"].all())
    name = LABEL if fresh else LABEL + STALE
    color = _COLOR if fresh else _STALE_COLOR
    return go.Scatter(
        x=pts["chi"], y=pts["value"], mode="markers", name=name, meta="atlas",
        marker=dict(color=color, size=11, symbol="star", line=dict(color="white", width=1)),
        error_y=dict(type="data", array=pts["se"].fillna(0.0), visible=True, thickness=1.5, width=5, color=color),
        customdata=pts["r_hat"], hovertemplate="χ=%{x:.3g}<br>%{y:.5f} ± %{error_y.array:.2g}<br>R̂ = "
                                               "%{customdata:.3f}<extra>" + name + "</extra>", **axes)


def regimes_traces(settings: Settings, split: str, observable: str) -> list[go.Scatter]:
    """The atlas points of the Regimes chart (``split`` train/test, ``observable`` mean_y_delta/mean_sq_delta) at
    these settings, with error bars; [] when the settings are not an atlas preset's."""
    found = atlas_for(settings)
    if found is None:
        return []
    pts = atlas_points(found[1], settings.activation, split, observable, atlas=found[0])
    return [_trace(pts)] if len(pts) else []


def features_traces(settings: Settings) -> list[go.Scatter]:
    """The networks' rescaling factor s (mastcore.atlas.OBSERVABLES) for the first panel of the Feature learning
    chart (plots.features_figure), with error bars; [] when the settings are not an atlas preset's."""
    found = atlas_for(settings)
    if found is None:
        return []
    pts = atlas_points(found[1], settings.activation, "train", "s", atlas=found[0]).dropna(subset=["value"])
    return [_trace(pts, xaxis="x", yaxis="y", showlegend=False)] if len(pts) else []


#: What the Feature learning chart's atlas points are (mastcore.atlas.OBSERVABLES "s").
FEATURES_WHAT = ("the rescaling factor s (first panel: the s for which the GP with kernel s·C0 has the networks' "
                 "train mean(y·Δ); the tree level's s multiplies K_B = C0 + O(1/N) instead, docs/theory.md §4.3 — a "
                 "small difference: the rest of a gap is the tree level's own finite-width error)")


def caption(settings: Settings, what: str = "the discrepancy") -> str | None:
    """One line under the chart about the atlas points (None when none is shown); it says when they were made by
    other trainer code."""
    found = atlas_for(settings)
    if found is None:
        return None
    atlas, key = found
    pts = atlas.points_of(key, settings.activation)
    stale = [p for p in pts if p["trainer_hash"] != atlas.trainer]
    steps = sorted({p["options"]["steps"] for p in pts})
    text = (f"★ **{LABEL}**: {what} of {pts[0]['options']['ensemble']} networks trained by Langevin dynamics "
            f"({'/'.join(map(str, steps))} steps) at {len(pts)} χ values, ± one standard error "
            f"(`python -m mastcore atlas`, docs/theory.md §13).")
    if stale:
        text += (f" **Made by other trainer code** ({len(stale)} of {len(pts)} points: trainer hash "
                 f"{stale[0]['trainer_hash']}, now {atlas.trainer}): regenerate the atlas before trusting them.")
    return text
