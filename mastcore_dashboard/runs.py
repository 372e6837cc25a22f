"""Long computations from a page: the process memo, the app's time budget, a Compute button above it, a progress bar
and a working Cancel (short work in this process, long work in a worker process), errors shown in words."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import streamlit as st

import mastcore as mc

from . import server
from .memo import ByteMemo, freeze_imports
from .notices import show_error
from .worker import Job

__all__ = ["AUTO_SECONDS", "CHART_AUTO_SECONDS", "DEFAULT_APP_MAX_SECONDS", "INLINE_CANCEL_SECONDS", "app_max_seconds", "digest",
           "fmt_seconds", "memo_get", "memo_put", "memo_run", "run_cancellable", "take_cancelled"]

#: Above this estimated cost (seconds) a computation waits for a button and runs in a worker process with a
#: Cancel button (unless it is in the memo or the disk cache).
AUTO_SECONDS = 2.0
#: The chart's own curves (NNGP and tree level, without which a page has no chart) start without a button up to this
#: estimate, in the worker with progress and Cancel when above AUTO_SECONDS: the tree level of erf/ReLU at the Fig. 2
#: preset is estimated at 2–5 s with its error band on a quiet machine and 12–15 s on a busy one (the estimate is
#: calibrated on the machine), and a page without its chart shows nothing to compare.
CHART_AUTO_SECONDS = 30.0
#: Work run at once (below AUTO_SECONDS) gets a Cancel button when it is expected to take longer than this.
INLINE_CANCEL_SECONDS = 0.5
#: Default of $MASTCORE_APP_MAX_SECONDS: longer computations are refused with the command line that runs them.
DEFAULT_APP_MAX_SECONDS = 120.0


def app_max_seconds() -> float:
    """The app's time budget per computation: ``$MASTCORE_APP_MAX_SECONDS`` (seconds) or 120."""
    raw = os.environ.get("MASTCORE_APP_MAX_SECONDS", "").strip()
    try:
        val = float(raw) if raw else DEFAULT_APP_MAX_SECONDS
    except ValueError:
        val = DEFAULT_APP_MAX_SECONDS
    return val if np.isfinite(val) and val > 0 else DEFAULT_APP_MAX_SECONDS


#: At most this long (seconds) a session waits for another one computing the same result before computing it too.
SHARED_WAIT_SECONDS = 10.0


@st.cache_resource
def _memo() -> ByteMemo:
    """Process-wide memo of immutable results (tasks, sweeps, figures), bounded in bytes and time
    (mastcore_dashboard/memo.py). Created once per process, after the imports: these are frozen for the collector first."""
    freeze_imports()
    server.install()  # the janitor also drops the sessions of closed tabs once their reconnect time is over
    return ByteMemo()


def memo_get(key):
    return _memo().get(key)


def memo_put(key, value):
    return _memo().put(key, value)


def memo_run(key, label: str, fn, *, estimate_seconds, prefix: str, keep=None, **run_options):
    """The one path from a page to a computation: the process memo, else :func:`run_cancellable` (disk-cache
    ``lookup``, budget, button, progress, Cancel), and the result into the memo.

    ``key`` is the memo key (settings, data digest, ...); ``prefix`` names the run's widgets
    (``run.<prefix>.<digest(key)>...``); ``estimate_seconds`` is a number or a function called only on a memo
    miss; ``keep(result)`` says whether a result may be memoised (default: every result; e.g. not an
    incomplete theory map). Other options go to :func:`run_cancellable`. Returns the result or None (waiting for
    a button, refused, cancelled or failed)."""
    hit = memo_get(key)
    if hit is not None:
        return hit
    # one session computes, the others asking for the same key meanwhile wait for its result (a class changing
    # the same setting together); bounded wait: a long run elsewhere does not freeze this page
    lock = _memo().lock(key)
    locked = lock.acquire(timeout=SHARED_WAIT_SECONDS)
    try:
        hit = memo_get(key)
        if hit is not None:
            return hit
        est = estimate_seconds() if callable(estimate_seconds) else estimate_seconds
        result = run_cancellable(label, fn, estimate_seconds=est, key=f"{prefix}.{digest(key)}", **run_options)
        if result is not None and (keep is None or keep(result)):
            memo_put(key, result)
        return result
    finally:
        if locked:
            lock.release()


def digest(key) -> str:
    """A short stable hash of a memo key (for widget and request keys)."""
    return hashlib.sha1(repr(key).encode()).hexdigest()[:12]


def fmt_seconds(s: float) -> str:
    """Seconds for people, as the library writes them in its estimates and refusals (mastcore._plumbing.budget)."""
    return mc.format_seconds(s)


def _request(key: str) -> None:
    st.session_state[f"run.{key}.request"] = True
    st.session_state.pop(f"run.{key}.cancelled", None)


def _cancel(key: str) -> None:
    st.session_state.pop(f"run.{key}.request", None)
    st.session_state[f"run.{key}.cancelled"] = True


def _progress_text(label: str, done: int, total: int, info: dict, elapsed: float, estimate: float) -> str:
    what = ", ".join(f"{kk} = {val:.3g}" if isinstance(val, float) else f"{kk} = {val}"
                     for kk, val in (info or {}).items() if kk in ("method", "chi", "P", "width"))
    left = ""
    if total and done:
        left = f" · about {fmt_seconds(max(0.0, elapsed / done * (total - done)))} left"
    elif np.isfinite(estimate):
        left = f" · about {fmt_seconds(max(0.0, estimate - elapsed))} left"
    return f"{label}: {done}/{total or '?'} {('(' + what + ')') if what else ''} · {elapsed:.0f} s{left}"


def run_cancellable(label: str, fn, *, estimate_seconds: float, key: str, cli: str | None = None,
                    lookup=None, auto_seconds: float | None = None, container=None, confirmed: bool = False,
                    remedy: str = "Lower P, D or the number of χ values"):
    """Run a computation that may take long, within the app's budget, with progress and a working Cancel.

    Parameters
    ----------
    label : what is computed, for people ("one loop", "exact posterior at χ = 5").
    fn : ``fn(progress) -> result`` where ``progress(done, total, info)`` is the library's progress signature.
        It must be picklable when it may run in a worker process: a module-level function, or
        ``mastcore_dashboard.worker.Call(func, *args, **kwargs)``, which calls ``func(*args, progress=progress, **kwargs)``.
    estimate_seconds : the expected time (mastcore_dashboard.compute.estimate_seconds: mc.estimate, calibrated here).
    key : identifies this computation (include a digest of its inputs): the button, the request and the Cancel
        are keyed by it, so a changed input asks again.
    cli : the command line (e.g. ``python -m mastcore sweep ...``) shown when the work is refused.
    lookup : optional ``lookup() -> result or None`` tried first for work that would not run at once (e.g. the disk
        cache with ``cache="only"``; mastcore.cache.CacheMiss counts as None).
    auto_seconds : above this estimate the work waits for a button (default AUTO_SECONDS, about 2 s).
    container : where to draw (default: the main area).
    confirmed : the caller's own button asked for it (e.g. a form's Run): no second button.
    remedy : what to change when the work is refused (text, or a function that returns it: called only then).

    What happens
    ------------
    - estimate above ``$MASTCORE_APP_MAX_SECONDS`` (default 120 s): refused, with the estimate and ``cli``;
    - estimate above ``auto_seconds`` and not requested yet: a "Compute <label> (about N s)" button;
    - otherwise it runs: short work in this process with a progress bar; requested (long) work in a worker
      process (mastcore_dashboard/worker.py) with a progress bar, the time left and a **Cancel** button that kills the
      worker at once (also when the user leaves the page or changes a setting, since Streamlit then stops
      this script run and the worker is killed on the way out).
    Errors (mc.ResourceError, ValueError, a worker killed for memory, ...) are shown with ``st.error`` — the
    message as plain text, never a traceback — and give None.

    Returns
    -------
    The result, or None (waiting for the button, refused, cancelled or failed).
    """
    box = container or st
    auto = AUTO_SECONDS if auto_seconds is None else auto_seconds
    if lookup is not None and estimate_seconds > auto:  # short work runs at once (and reads the cache itself)
        try:
            hit = lookup()
        except mc.cache.CacheMiss:
            hit = None
        if hit is not None:
            return hit
    limit = app_max_seconds()
    if estimate_seconds > limit:
        box.warning(f"**{label}** would take about {fmt_seconds(estimate_seconds)} on this machine (mc.estimate), "
                    f"more than this app runs ({fmt_seconds(limit)}; MASTCORE_APP_MAX_SECONDS). "
                    f"{remedy() if callable(remedy) else remedy}"
                    + (", or run it from the command line:" if cli else "."), icon=":material/hourglass_disabled:")
        if cli:
            box.code(cli, language="bash")
        return None
    request, cancelled = f"run.{key}.request", f"run.{key}.cancelled"
    if confirmed:
        st.session_state[request] = True
        st.session_state.pop(cancelled, None)
    if (estimate_seconds > auto or st.session_state.get(cancelled)) and not st.session_state.get(request):
        if st.session_state.get(cancelled):
            box.info(f"{label}: cancelled.", icon=":material/cancel:")
        box.button(f"Compute {label} (about {fmt_seconds(estimate_seconds)}, cached afterwards)",
                   key=f"run.{key}.start", on_click=_request, args=(key,),
                   help="Runs in a worker process with a progress bar and a Cancel button.")
        return None
    if estimate_seconds <= auto and not st.session_state.get(request):
        return _run_here(label, fn, box, estimate_seconds, key)
    return _run_worker(label, fn, box, estimate_seconds, key, cli)


def take_cancelled(prefix: str) -> bool:
    """True (once) when a computation whose key starts with ``prefix`` was cancelled since the last run; for pages
    that call :func:`run_cancellable` only on their own button (the cancelled run does not come back by itself)."""
    keys = [kk for kk in list(st.session_state) if str(kk).startswith(f"run.{prefix}") and str(kk).endswith(".cancelled")]
    for kk in keys:
        del st.session_state[kk]
    return bool(keys)


def _run_here(label, fn, box, estimate, key):
    """Short work in this process. Its Cancel stops it at the next progress report (Streamlit ends a script run
    that a click interrupts there), i.e. between two χ points of a sweep."""
    slot = box.empty()  # everything of the run lives in this slot, cleared at the end
    panel = slot.container()
    bar = panel.progress(0.0, text=f"Computing {label} …")
    if estimate > INLINE_CANCEL_SECONDS:  # (shorter work would only flash the button)
        panel.button("Cancel", key=f"run.{key}.cancel", on_click=_cancel, args=(key,), icon=":material/cancel:",
                     help="Stops the computation (between two of its steps).")

    def cb(done, total, info=None):
        info = info or {}
        what = info.get("method", "")
        at = f" at χ = {info['chi']:.3g}" if "chi" in info else ""
        bar.progress(min(1.0, done / max(total, 1)), text=f"Computing {label}: {what}{at} ({done}/{total})")

    try:
        result = fn(cb)
    except (ValueError, RuntimeError, ArithmeticError, MemoryError, OSError, np.linalg.LinAlgError) as exc:
        slot.empty()
        show_error(f"{label} failed:", exc)
        return None
    slot.empty()
    return result


def _run_worker(label, fn, box, estimate, key, cli):
    slot = box.empty()
    panel = slot.container(border=True)
    bar = panel.progress(0.0, text=f"{label}: starting …")
    panel.button("Cancel", key=f"run.{key}.cancel", on_click=_cancel, args=(key,), icon=":material/cancel:",
                 help="Stops the computation at once (its worker process is ended).")

    def on_progress(done, total, info, elapsed):
        bar.progress(min(1.0, done / total) if total else 0.0,
                     text=_progress_text(label, done, total, info, elapsed, estimate))

    try:
        result = Job(fn).run(on_progress, poll=0.2)
    except (ValueError, RuntimeError, ArithmeticError, MemoryError, OSError, np.linalg.LinAlgError) as exc:
        st.session_state.pop(f"run.{key}.request", None)
        slot.empty()
        show_error(f"{label} failed:", exc, cli=cli if isinstance(exc, mc.ResourceError) else None)
        return None
    st.session_state.pop(f"run.{key}.request", None)
    slot.empty()
    return result
