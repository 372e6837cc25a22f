"""The app's process-wide memo: the library's one byte-bounded LRU (:class:`mastcore._plumbing.memo.ByteMemo`) with
the app's bounds, a thin layer over mastcore's disk cache.

One memo serves every session of a server (a class shares its theory curves, tasks and figures), so its size is
what a stranger's links can make the server hold. It keeps the most recently used values up to ``max_bytes`` in
total (default 512 MiB, ``$MASTCORE_APP_MEMO_BYTES``) and refuses values larger than ``max_item_bytes`` (default an
eighth of it): those are recomputed (or read from the disk cache) when needed instead of staying in memory.

Values unused for ``ttl`` seconds (default 300, ``$MASTCORE_APP_MEMO_TTL``; 0: no limit) are dropped by a
janitor thread, which hands freed memory back to the operating system (``gc.collect`` and glibc's ``malloc_trim``,
also what ended sessions left): an idle server returns to about its size after the first page
(bench/classroom.py measures it).

``lock(key)`` gives one lock per key, so that sessions asking for the same missing value at the same moment (a
class told "set N to 80") compute it once: the first computes, the others wait and then find it. No Streamlit here.
"""
from __future__ import annotations

import gc
import os
import time

from mastcore._plumbing import memo as _memo
from mastcore._plumbing.memo import JANITOR_HOOKS, RELEASE_EVERY, nbytes, release_memory
from mastcore._plumbing.env import env_bytes

__all__ = ["ByteMemo", "DEFAULT_MAX_BYTES", "DEFAULT_TTL", "JANITOR_HOOKS", "RELEASE_EVERY", "freeze_imports",
           "memo_max_bytes", "memo_ttl", "nbytes", "release_memory"]

DEFAULT_MAX_BYTES = 512 * 2**20
ENV = "MASTCORE_APP_MEMO_BYTES"
#: Seconds a value may stay unused in the memo (a lesson's pause); $MASTCORE_APP_MEMO_TTL overrides, 0 = forever.
DEFAULT_TTL = 300.0
ENV_TTL = "MASTCORE_APP_MEMO_TTL"


def memo_max_bytes() -> int:
    """The memo's bound: ``$MASTCORE_APP_MEMO_BYTES`` (bytes, or e.g. "256M") or 512 MiB."""
    return env_bytes(ENV, DEFAULT_MAX_BYTES, allow_zero=True)  # the library's one parser of byte sizes


def memo_ttl() -> float:
    """Seconds an unused value stays in the memo: ``$MASTCORE_APP_MEMO_TTL`` or 300 (0: no limit)."""
    raw = os.environ.get(ENV_TTL)
    if raw is None or not raw.strip():
        return DEFAULT_TTL
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"'{ENV_TTL}' must be a number of seconds; got {raw!r}") from None
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"'{ENV_TTL}' must be a finite number >= 0; got {raw!r}")
    return v


def freeze_imports() -> None:
    """Move every object alive now (the imported modules: streamlit, pandas, plotly, scipy, mastcore, ...) out of
    the garbage collector's sight (``gc.freeze``), once per process, after the first page's imports.

    Streamlit collects garbage after every script run (``runner.postScriptGC``); a full collection walks every
    tracked object, some 160 000 after the imports, which costs tens of milliseconds per rerun, for every session,
    while no other thread may run. Frozen, the imports are never walked again (they live as long as the process
    anyway); the sessions' own objects still are."""
    gc.collect()
    gc.freeze()


class ByteMemo(_memo.ByteMemo):
    """The library's :class:`~mastcore._plumbing.memo.ByteMemo` with the app's defaults: ``max_bytes`` from
    :func:`memo_max_bytes`, ``max_item_bytes`` an eighth of it, ``ttl`` from :func:`memo_ttl` (a negative ``ttl``
    means that default; 0 or None: no limit). Only the defaults differ: the memo is the same class."""

    def __init__(self, max_bytes: int | None = None, max_item_bytes: int | None = None, ttl: float | None = -1.0,
                 clock=time.monotonic):
        max_bytes = memo_max_bytes() if max_bytes is None else int(max_bytes)
        super().__init__(max_bytes, max_item_bytes=max_bytes // 8 if max_item_bytes is None else max_item_bytes,
                         ttl=memo_ttl() if ttl is not None and ttl < 0 else ttl, clock=clock)
