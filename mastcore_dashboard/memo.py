"""A process-wide memo bounded in bytes and in time: the app's thin layer over mastcore's disk cache.

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

import ctypes
import ctypes.util
import dataclasses
import functools
import gc
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict

import numpy as np

__all__ = ["ByteMemo", "DEFAULT_MAX_BYTES", "DEFAULT_TTL", "JANITOR_HOOKS", "freeze_imports", "memo_max_bytes", "memo_ttl", "nbytes",
           "release_memory"]

DEFAULT_MAX_BYTES = 512 * 2**20
ENV = "MASTCORE_APP_MEMO_BYTES"
#: Seconds a value may stay unused in the memo (a lesson's pause); $MASTCORE_APP_MEMO_TTL overrides, 0 = forever.
DEFAULT_TTL = 300.0
ENV_TTL = "MASTCORE_APP_MEMO_TTL"


def memo_max_bytes() -> int:
    """The memo's bound: ``$MASTCORE_APP_MEMO_BYTES`` (bytes, or e.g. "256M") or 512 MiB."""
    from mastcore._plumbing.validation import env_bytes  # noqa: PLC0415  (the library's one parser of byte sizes)

    return env_bytes(ENV, DEFAULT_MAX_BYTES, allow_zero=True)


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


_LIBC = None


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the operating system (glibc ``malloc_trim``; elsewhere
    only the collection). Python frees memory to its allocator, which keeps it: without the trim a server that
    served a class stays at its peak size."""
    global _LIBC
    gc.collect()
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    if _LIBC and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def freeze_imports() -> None:
    """Move every object alive now (the imported modules: streamlit, pandas, plotly, scipy, mastcore, ...) out of
    the garbage collector's sight (``gc.freeze``), once per process, after the first page's imports.

    Streamlit collects garbage after every script run (``runner.postScriptGC``); a full collection walks every
    tracked object, some 160 000 after the imports, which costs tens of milliseconds per rerun, for every session,
    while no other thread may run. Frozen, the imports are never walked again (they live as long as the process
    anyway); the sessions' own objects still are."""
    gc.collect()
    gc.freeze()


def nbytes(obj, _seen: set | None = None, _depth: int = 0) -> int:
    """Approximate memory held by ``obj``: numpy arrays and pandas frames exactly, containers, dataclasses and
    plain objects recursively (each object counted once), anything else by ``sys.getsizeof``."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > 12:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj.base if isinstance(obj.base, np.ndarray) else None
        if base is not None:
            return nbytes(base, seen, _depth + 1)
        return int(obj.nbytes) + 112
    if hasattr(obj, "memory_usage") and hasattr(obj, "columns"):  # pandas DataFrame
        return int(obj.memory_usage(index=True, deep=True).sum())
    if hasattr(obj, "_data") and hasattr(obj, "_layout") and hasattr(obj, "to_plotly_json"):  # a plotly figure
        return sys.getsizeof(obj) + nbytes(obj._data, seen, _depth + 1) + nbytes(obj._layout, seen, _depth + 1)
    if isinstance(obj, (str, bytes, int, float, complex, bool, type(None))):
        return sys.getsizeof(obj)
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(nbytes(k, seen, _depth + 1) + nbytes(v, seen, _depth + 1)
                                        for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sys.getsizeof(obj) + sum(nbytes(v, seen, _depth + 1) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sys.getsizeof(obj) + sum(nbytes(getattr(obj, f.name, None), seen, _depth + 1)
                                        for f in dataclasses.fields(obj))
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        return sys.getsizeof(obj) + nbytes(d, seen, _depth + 1)
    return sys.getsizeof(obj)


class ByteMemo:
    """Least-recently-used memo bounded by the bytes of its values and by their idle time (thread-safe).

    ``put`` returns the value whether or not it was kept; ``get`` returns None on a miss. ``ttl`` (seconds, default
    :func:`memo_ttl`; 0 or None: no limit): values not used for that long are dropped, by ``expire`` (called on
    every ``put``) and by a janitor thread started with the first value kept, which releases the memory to the
    operating system (:func:`release_memory`) when it dropped something and at least every RELEASE_EVERY seconds. ``clock``: the time source (for tests).
    """

    def __init__(self, max_bytes: int | None = None, max_item_bytes: int | None = None, ttl: float | None = -1.0,
                 clock=time.monotonic):
        self.max_bytes = memo_max_bytes() if max_bytes is None else int(max_bytes)
        self.max_item_bytes = self.max_bytes // 8 if max_item_bytes is None else int(max_item_bytes)
        ttl = memo_ttl() if ttl is not None and ttl < 0 else ttl
        self.ttl = float(ttl) if ttl else None
        self._clock = clock
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._used: dict = {}
        self._lock = threading.Lock()
        self._key_locks: dict = {}
        self._janitor = None
        self.total = 0

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            if self.ttl is not None and self._clock() - self._used[key] > self.ttl:
                self._drop(key)
                return None
            self._items.move_to_end(key)
            self._used[key] = self._clock()
            return self._items[key]

    def put(self, key, value):
        size = nbytes(value)
        self.expire()
        with self._lock:
            if key in self._items:
                self._drop(key)
            if size > self.max_item_bytes:
                return value  # too large to keep: recomputed (or read from the disk cache) when needed
            self._items[key] = value
            self._sizes[key] = size
            self._used[key] = self._clock()
            self.total += size
            while self.total > self.max_bytes and self._items:
                self._drop(next(iter(self._items)))
        self._start_janitor()
        return value

    def _drop(self, key) -> None:  # with self._lock held
        del self._items[key]
        self.total -= self._sizes.pop(key)
        self._used.pop(key, None)

    def expire(self) -> int:
        """Drop the values unused for longer than ``ttl``; returns how many were dropped."""
        if self.ttl is None:
            return 0
        now = self._clock()
        with self._lock:
            old = [key for key, used in self._used.items() if now - used > self.ttl]
            for key in old:
                self._drop(key)
        return len(old)

    def lock(self, key) -> "_KeyLock":
        """The lock of ``key`` (one per key while anyone holds a reference to it): who computes a missing value
        holds it, so that other sessions wait for that value instead of computing it again."""
        with self._lock:
            ref = self._key_locks.get(key)
            lk = ref() if ref is not None else None
            if lk is None:
                lk = _KeyLock()
                self._key_locks[key] = weakref.ref(lk, functools.partial(_forget, self._key_locks, key))
            return lk

    def _start_janitor(self) -> None:
        if self.ttl is None or (self._janitor is not None and self._janitor.is_alive()):
            return
        with self._lock:
            if self._janitor is not None and self._janitor.is_alive():
                return
            # the thread holds only a weak reference: a memo nobody uses any more is freed, and its janitor ends
            self._janitor = threading.Thread(target=_janitor, args=(weakref.ref(self), max(1.0, self.ttl / 4)),
                                             name="mastcore-memo-janitor", daemon=True)
            self._janitor.start()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key) -> bool:
        return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self._used.clear()
            self.total = 0


class _KeyLock:
    """A lock that can be weakly referenced (threading.Lock cannot)."""

    def __init__(self):
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


def _forget(locks: dict, key, ref) -> None:
    """Weak-reference callback: the lock of ``key`` is gone (no session waits on it), so is its entry."""
    if locks.get(key) is ref:
        locks.pop(key, None)


#: The janitor releases memory at least this often (seconds), also when the memo dropped nothing: what ended
#: sessions freed (Streamlit drops a closed session after server.disconnectedSessionTTL) goes back to the system.
RELEASE_EVERY = 120.0


#: Housekeeping the janitor runs on each round, before it decides to release memory: callables returning how many
#: things they freed (mastcore_dashboard/server.py adds the reaping of Streamlit's expired disconnected sessions). A hook
#: that raises is skipped for that round.
JANITOR_HOOKS: list = []


def _janitor(ref, every: float) -> None:
    """Every ``every`` seconds: drop the memo's expired values and run JANITOR_HOOKS; release the memory when
    something was freed, or RELEASE_EVERY seconds after the last release."""
    last = time.monotonic()
    while True:
        time.sleep(every)
        memo = ref()
        if memo is None:
            return
        freed = memo.expire()
        del memo
        for hook in list(JANITOR_HOOKS):
            try:
                freed += int(hook() or 0)
            except Exception:  # noqa: BLE001  (housekeeping must never end the janitor)
                continue
        if freed or time.monotonic() - last > RELEASE_EVERY:
            release_memory()
            last = time.monotonic()
