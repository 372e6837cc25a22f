"""Housekeeping of the Streamlit server that the app runs in: what a class leaves behind once it has gone.

Streamlit keeps a closed tab's session (its session state, widget values, the last messages) for
``server.disconnectedSessionTTL`` seconds (120 by default) so that a reconnecting browser finds it. The store it
keeps them in (a TTL cache) drops an expired session only when it is written to again, i.e. when a new browser
connects: after a lesson the sessions of the whole class stay in memory however long the server idles.
:func:`reap_disconnected_sessions` drops the expired ones; :func:`install` makes the memo's janitor
(:data:`mastcore._plumbing.memo.JANITOR_HOOKS`, the app's memo is mastcore_dashboard/memo.py) call it on each of its rounds, before it hands freed memory back to the system.

The store is reached through Streamlit internals (``Runtime._session_mgr._session_storage._cache``): when a
Streamlit release changes them, the reaping does nothing (and Streamlit's own, later clean-up remains).
"""
from __future__ import annotations

from mastcore._plumbing.memo import JANITOR_HOOKS

__all__ = ["install", "reap_disconnected_sessions"]


def reap_disconnected_sessions() -> int:
    """Drop the disconnected sessions whose reconnect time is over; returns how many were dropped (0 when the
    server is not a Streamlit runtime or its internals differ)."""
    try:
        from streamlit.runtime import Runtime  # noqa: PLC0415  (only inside a running server)

        if not Runtime.exists():
            return 0
        mgr = Runtime.instance()._session_mgr
        storage = getattr(mgr, "_session_storage", None)
        cache = getattr(storage, "_cache", None)
        expire = getattr(cache, "expire", None)
        lock = getattr(mgr, "_storage_lock", None)
    except (ImportError, AttributeError, RuntimeError):
        return 0
    if expire is None or lock is None:
        return 0
    with lock:  # the session manager's own lock around its store
        return len(expire() or ())


def install() -> None:
    """Run :func:`reap_disconnected_sessions` on each round of the memo's janitor (once per process)."""
    if reap_disconnected_sessions not in JANITOR_HOOKS:
        JANITOR_HOOKS.append(reap_disconnected_sessions)
