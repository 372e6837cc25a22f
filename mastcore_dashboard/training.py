""""Train networks here" on the Regimes page, for settings the network atlas does not cover (not a preset).

A Langevin ensemble at the current settings and χ is trained in a background worker, block by block
(mastcore_dashboard.compute.stream_langevin): after each block its point appears on the Regimes chart with the
standard error of the networks trained so far, which shrinks as they accumulate; a live panel shows the running value
against training time beside the theory values; Pause, Resume and Cancel act on the worker
(mastcore_dashboard.jobs.start_job / job_controls). The finished run is in the disk cache, like a run of the
Networks page: the page then draws it as a stored reference run, and it stays there.

The ensemble's size, steps, burn-in and seed are the Networks page's Langevin fields (their URL names ens, steps,
lburn, lseed). No maths here: the library trains and summarises.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mastcore import plots

from . import atlas_view, compute
from .state import OBSERVABLES, VIEW_PARAMS, Settings
from .charts import chart
from .chi import current_chi
from .jobs import POLL_SECONDS, end_job, job_controls, job_state, poll_job, start_job
from .keys import v
from .notices import show_error
from .runs import app_max_seconds, fmt_seconds, take_cancelled
from .worker import Call

__all__ = ["KEY", "POLL_SECONDS", "active", "notice", "offer", "options_now", "panel", "point_trace", "settle"]

#: The key of the Regimes page's training job (widgets: ``run.reg.train.*``).
KEY = "reg.train"
#: The Networks page's Langevin fields: URL name -> LangevinOptions name.
FIELDS = {"ens": "ensemble", "steps": "steps", "lburn": "burn_in", "lseed": "seed"}
#: Legend name of the streamed point (while its networks train).
LABEL = "Langevin networks (training)"
_NOTICE = "reg.train.notice"


def options_now() -> dict:
    """The Langevin options of a run started now: the Networks page's fields (view values, defaults)."""
    return {opt: int(st.session_state.get(v(name), VIEW_PARAMS[name].default)) for name, opt in FIELDS.items()}


def _here(rec, settings: Settings, data: str) -> bool:
    return rec is not None and rec["meta"]["settings"] == settings and rec["meta"]["data"] == data


def active() -> bool:
    """A training job of this session has not finished (running or paused): the page polls it. (Polling also while
    paused: Pause and Resume then change nothing but the job, and a click never meets a page rerun of their own.)"""
    rec = poll_job(KEY)
    return rec is not None and not rec["job"].finished


def settle() -> bool:
    """A finished job: its outcome becomes the page's notice and the job is forgotten. True when a job finished
    (the page reruns: a stored run is then drawn from the disk cache)."""
    rec = poll_job(KEY)
    if rec is None or not rec["job"].finished:
        return False
    job, meta = rec["job"], rec["meta"]
    end_job(KEY)
    if job.error is not None:
        st.session_state[_NOTICE] = ("error", f"Training at χ = {meta['chi']:g} failed:", str(job.error))
    else:
        row = job.result["row"]
        where = ("stored in the disk cache: it stays on the chart" if row.get("stored")
                 else "not stored on disk (see the Networks page)")
        st.session_state[_NOTICE] = ("done", f"Trained {meta['options']['ensemble']} networks at χ = "
                                     f"{meta['chi']:g} in {job.running_seconds:.1f} s of training, {where}.", "")
    return True


def notice() -> None:
    """What became of the last training job (finished, failed or cancelled), once."""
    if take_cancelled(KEY):
        st.info("Training cancelled: its worker was stopped and nothing was stored.", icon=":material/cancel:")
    said = st.session_state.pop(_NOTICE, None)
    if said is None:
        return
    if said[0] == "error":
        show_error(said[1], said[2])
    else:
        st.success(said[1], icon=":material/check_circle:")


def _running(rec, col: str) -> tuple[list, list, list]:
    """(training seconds, value, s.e.) of ``col`` after each finished block."""
    rows = [(t, info[col], info.get(f"{col}_se", np.nan)) for t, _, _, info in rec["job"].history
            if col in info and np.isfinite(info[col])]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def point_trace(settings: Settings, data: str, col: str) -> go.Scatter | None:
    """The streamed point (value ± s.e. over the networks trained so far) for the Regimes chart, or None."""
    rec = poll_job(KEY)
    if not _here(rec, settings, data):
        return None
    info = rec["job"].info
    if col not in info or not np.isfinite(info[col]):
        return None
    name, color, _ = plots.METHOD_STYLE["langevin"]
    n, total = int(info.get("networks", 0)), rec["meta"]["options"]["ensemble"]
    se = info.get(f"{col}_se", np.nan)
    return go.Scatter(
        x=[rec["meta"]["chi"]], y=[info[col]], mode="markers", name=f"{LABEL}: {n} of {total}", meta="training",
        marker=dict(color="white", size=12, symbol="diamond", line=dict(color=color, width=2)),
        error_y=dict(type="data", array=[0.0 if not np.isfinite(se) else se], visible=True, thickness=2, width=6,
                     color=color),
        hovertemplate="χ=%{x:.3g}<br>%{y:.5f} ± " + f"{se:.2g}" + f"<extra>{name}: {n} of {total} networks</extra>",
    )


def _start(task, settings: Settings, grid: tuple, options: dict, data: str) -> None:
    chi = current_chi(grid)  # at the click: χ may have moved in the chart's fragment since the button was drawn
    label = f"{options['ensemble']} Langevin networks at χ = {chi:g}"
    start_job(KEY, Call(compute.stream_langevin, task, settings, chi, options), label=label,
              meta={"settings": settings, "data": data, "chi": float(chi), "options": dict(options)})


def _trained(refs, chi: float, options: dict) -> bool:
    """A streamed run with these options at this χ is among the stored runs."""
    if refs is None or refs.empty or "options" not in refs:
        return False
    want = compute.stream_options(options)
    for _, r in refs[(refs["kind"] == "langevin") & np.isclose(refs["chi"], chi, rtol=1e-9)].iterrows():
        if all((r["options"] or {}).get(k) == val for k, val in want.items()):
            return True
    return False


def offer(task, settings: Settings, grid, refs, data: str) -> None:
    """The "Train networks here" button (with its estimate; refused above the app's limit), where the atlas has no
    networks and no job is under way. Drawn outside the chart's fragment: its click reruns the whole page, which then
    polls the job."""
    rec = poll_job(KEY)
    if rec is not None and not rec["job"].finished:
        return
    if atlas_view.atlas_for(settings) is not None:
        return  # a preset: the atlas has trained networks on the chart already
    grid = tuple(float(g) for g in grid)
    chi = current_chi(grid)
    options = options_now()
    if _trained(refs, chi, options):
        st.caption(f"Networks trained here ({options['ensemble']} networks, {options['steps']} steps) are on the "
                   f"chart at χ = {chi:g} (stored in the disk cache). Move χ to train at another value.")
        return
    est = compute.stream_langevin_seconds(settings, chi, options, task)
    what = (f"{options['ensemble']} networks, {options['steps']} steps of which {options['burn_in']} burn-in, seed "
            f"{options['seed']}: the Langevin fields of the **Networks** page")
    limit = app_max_seconds()
    if est > limit:
        st.warning(f"Training networks here would take about {fmt_seconds(est)} ({what}), more than this app runs "
                   f"({fmt_seconds(limit)}). Lower the networks or steps on the Networks page, or run it from the "
                   "command line:", icon=":material/hourglass_disabled:")
        st.code(compute.cli_command(settings, [chi], ("langevin",), {"langevin": compute.stream_options(options)}),
                language="bash")
        return
    st.button(f"Train networks here (about {fmt_seconds(est)})", key=f"{KEY}.start", on_click=_start,
              args=(task, settings, grid, options, data), icon=":material/model_training:",
              help="Trains an ensemble of real networks with Langevin dynamics, at the chart's χ when clicked, in a "
                   "worker process: their point appears after the first block and its error bar shrinks as networks "
                   "are added; Pause, Resume and Cancel act on it; the finished run is cached and stays on the chart.")
    st.caption(f"No trained networks for these settings yet. Train networks here: {what}.")


def panel(settings: Settings, data: str, col: str, theory_at) -> None:
    """Below the Regimes chart: the live panel of a training job (nothing without one).

    ``theory_at(chi)``: method -> its value of ``col`` at that χ (the panel's horizontal lines); ``data``: the
    digest of the uploaded data ('' for a built-in task)."""
    rec = poll_job(KEY)
    if rec is None or rec["job"].finished:
        return
    job, meta = rec["job"], rec["meta"]
    total = meta["options"]["ensemble"]
    n = int(job.info.get("networks", 0))
    state = job_state(job)
    with st.container(border=True):
        st.markdown(f"**Training {rec['label']}**"
                    + ("" if _here(rec, settings, data) else " — for other settings than the sidebar's (its point "
                                                             "is drawn on their chart)"))
        if not job.total:
            text = f"starting … · {job.running_seconds:.0f} s"
        else:
            text = f"block {job.done} of {job.total} · {n} of {total} networks · {job.running_seconds:.0f} s"
        text = {"paused": f"Paused after block {job.done} of {job.total or '?'} · {n} of {total} networks",
                "pausing": f"Pausing after the current block … ({text})"}.get(state, text)
        job_controls(KEY, text)
        seconds, values, se = _running(rec, col)
        split, obs = col.split("_", 1)
        if seconds:
            theory = theory_at(meta["chi"]) if _here(rec, settings, data) else None
            chart(plots.running_figure(seconds, values, se, reference=theory,
                                       ylabel=f"{split} {OBSERVABLES.get(obs, obs)}", meta="mc-training"),
                  key=f"{KEY}.panel")
            st.caption("The running mean over the networks trained so far (± its standard error) against training "
                       "time; the lines are the theories at this χ. Watch the networks settle towards the theory.")
