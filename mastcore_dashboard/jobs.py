"""Background jobs: a worker that outlives script runs, polled by the page, with Pause, Resume and Cancel."""
from __future__ import annotations

import streamlit as st

from .worker import Job

__all__ = ["POLL_SECONDS", "end_job", "job_controls", "job_state", "poll_job", "start_job"]

#: Seconds between two polls of a background job (the page's fragment reruns this often while one is running).
POLL_SECONDS = 1.0


def _job_key(key: str) -> str:
    return f"run.{key}.job"


def start_job(key: str, fn, *, label: str, meta=None) -> None:
    """Start ``fn(progress)`` (picklable, e.g. a :class:`~mastcore_dashboard.worker.Call`) in a worker process that
    outlives this script run: the page reads it with :func:`poll_job` (from a fragment with ``run_every=
    POLL_SECONDS``) and draws :func:`job_controls`. A job already under ``key`` is cancelled first. Safe in a
    button's ``on_click``. ``meta``: what the page needs to know about the job (its settings, χ, options)."""
    old = st.session_state.pop(_job_key(key), None)
    if old is not None:
        old["job"].cancel()
    st.session_state.pop(f"run.{key}.cancelled", None)
    st.session_state[_job_key(key)] = {"job": Job(fn).start(), "label": label, "meta": meta}


def poll_job(key: str) -> dict | None:
    """The background job under ``key`` after reading what its worker sent (``{"job", "label", "meta"}``), or
    None. A finished job stays until :func:`end_job` (its ``job.result`` / ``job.error`` are read by the page)."""
    rec = st.session_state.get(_job_key(key))
    if rec is not None:
        rec["job"].poll(0.0)
    return rec


def end_job(key: str) -> None:
    """Forget the background job under ``key`` (its worker is stopped if it still runs)."""
    rec = st.session_state.pop(_job_key(key), None)
    if rec is not None:
        rec["job"].cancel()


def _pause_job(key: str) -> None:
    rec = st.session_state.get(_job_key(key))
    if rec is not None:
        rec["job"].pause()


def _resume_job(key: str) -> None:
    rec = st.session_state.get(_job_key(key))
    if rec is not None:
        rec["job"].resume()


def _cancel_job(key: str) -> None:
    end_job(key)
    st.session_state[f"run.{key}.cancelled"] = True


def job_state(job: Job) -> str:
    """"running", "pausing" (asked to pause, still in its step), "paused" or "finished"."""
    if job.finished:
        return "finished"
    if job.paused:
        return "paused"
    return "pausing" if job.pause_requested else "running"


def job_controls(key: str, text: str, container=None) -> None:
    """The progress bar (``text`` on it) and the Pause or Resume and the Cancel buttons of the job under ``key``."""
    rec = st.session_state.get(_job_key(key))
    if rec is None:
        return
    box = container or st
    job = rec["job"]
    box.progress(min(1.0, job.done / job.total) if job.total else 0.0, text=text)
    with box.container(horizontal=True, gap="small"):
        state = job_state(job)
        if state in ("paused", "pausing"):
            st.button("Resume", key=f"run.{key}.resume", on_click=_resume_job, args=(key,),
                      icon=":material/play_arrow:", help="Goes on from where the work was paused.")
        else:
            st.button("Pause", key=f"run.{key}.pause", on_click=_pause_job, args=(key,), icon=":material/pause:",
                      help="Holds the work after its current step (it keeps what it has done).")
        st.button("Cancel", key=f"run.{key}.cancel", on_click=_cancel_job, args=(key,), icon=":material/cancel:",
                  help="Stops the work at once (its worker process is ended); nothing is stored.")
