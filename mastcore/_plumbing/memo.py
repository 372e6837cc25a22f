"""The one in-memory memo of the library and the app: a least-recently-used store bounded in bytes (docs/operations.md).

:class:`ByteMemo` keeps the most recently used values up to ``max_bytes`` in total (and, optionally, at most
``max_items`` of them); a value larger than ``max_item_bytes`` is not kept (it is recomputed when needed). With a
``ttl``, values unused for that many seconds are dropped, by :meth:`ByteMemo.expire` (called on every ``put``) and
by a janitor thread that then hands the freed memory back to the operating system (:func:`release_memory`) and runs
the housekeeping of :data:`JANITOR_HOOKS`. :meth:`ByteMemo.lock` gives one lock per key, so that threads asking for
the same missing value compute it once. Thread-safe.

Its users:

* the solvers' work on X — row space, NNGP kernel, its eigendecomposition — memoised on the content of the arrays
  (docs/theory.md §17.3): :data:`mastcore._linalg.MEMO`, an :class:`ArrayMemo` (``get(kind, key, compute)``, hit
  and miss counts, arrays made read-only), and the stores of the band companions and shared prior samples;
* the dashboard's process-wide memo of theory curves, tasks and figures (mastcore_dashboard/memo.py), with a ttl
  and sizes from its environment variables.

The byte-bounded LRU itself is :class:`cachetools.LRUCache` with ``getsizeof``: it does the ordering, the byte
accounting and the eviction. Measured against the two hand-written OrderedDict stores it replaces (2-core VM, 50
keys of a small array): put + get 4.1 µs against 2.9 µs, 17 µs against 7.7 µs with a ttl (each put scans the keys
for expired ones, as before), a solver's ``get(kind, key, compute)`` 8.9 µs against 5.9 µs — microseconds beside
the milliseconds or more of the work memoised, so the well-kept library is used. What cachetools has no form for is
kept here: an idle-time ttl (its TTLCache counts from insertion, not from last use), the item and per-item caps,
the per-key locks and the janitor.

No Streamlit here (the library never imports it).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import functools
import gc
import hashlib
import sys
import threading
import time
import weakref
from collections import Counter

import cachetools
import numpy as np

#: This module cannot change a result: the cache's source hash leaves it out (mastcore._plumbing.cache, "Keys").
CACHE_NEUTRAL = True

__all__ = ["ArrayMemo", "ByteMemo", "JANITOR_HOOKS", "RELEASE_EVERY", "array_bytes", "call_scope", "content_key",
           "nbytes", "release_memory"]


# --- sizes ---------------------------------------------------------------------------------------------------------


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


def _arrays_of(value) -> list:
    """The numpy arrays held by a memoised value: an array, a tuple of arrays or a dataclass of them."""
    parts = value if isinstance(value, tuple) else vars(value).values() if hasattr(value, "__dict__") else (value,)
    return [v for v in parts if isinstance(v, np.ndarray)]


def array_bytes(value) -> int:
    """Bytes of the numpy arrays a solver's memoised value holds (an array, a tuple or a dataclass of them)."""
    return sum(arr.nbytes for arr in _arrays_of(value))


# --- releasing memory ------------------------------------------------------------------------------------------------

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


#: The janitor releases memory at least this often (seconds), also when the memo dropped nothing: what ended
#: sessions freed (Streamlit drops a closed session after server.disconnectedSessionTTL) goes back to the system.
RELEASE_EVERY = 120.0

#: Housekeeping the janitor runs on each round, before it decides to release memory: callables returning how many
#: things they freed (mastcore_dashboard/server.py adds the reaping of Streamlit's expired disconnected sessions). A
#: hook that raises is skipped for that round.
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


# --- the memo --------------------------------------------------------------------------------------------------------


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
    """Weak-reference callback: the lock of ``key`` is gone (nobody waits on it), so is its entry."""
    if locks.get(key) is ref:
        locks.pop(key, None)


def _entry_size(entry) -> int:
    return entry[1]


class ByteMemo:
    """Least-recently-used memo bounded by the bytes of its values, optionally by their number and by their idle
    time (thread-safe; module docstring).

    Parameters
    ----------
    max_bytes : total size of the values kept (bytes, as ``sizeof`` counts them).
    max_items : at most this many values (None: no bound but the bytes).
    max_item_bytes : a value larger than this is returned by ``put`` but not kept (default ``max_bytes``).
    ttl : seconds a value may stay unused (0 or None: no limit); a janitor thread, started with the first value
        kept, drops expired values and releases the memory (:func:`release_memory`).
    clock : the time source (for tests). sizeof : ``sizeof(value)`` → bytes (default :func:`nbytes`).

    ``put`` returns the value whether or not it was kept; ``get`` returns ``default`` (None) on a miss.
    """

    def __init__(self, max_bytes: int, *, max_items: int | None = None, max_item_bytes: int | None = None,
                 ttl: float | None = None, clock=time.monotonic, sizeof=nbytes):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
            raise ValueError(f"'max_bytes' must be an integer >= 0; got {max_bytes!r}")
        if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1):
            raise ValueError(f"'max_items' must be a positive integer or None; got {max_items!r}")
        self.max_bytes = int(max_bytes)
        self.max_items = max_items
        self.max_item_bytes = self.max_bytes if max_item_bytes is None else min(int(max_item_bytes), self.max_bytes)
        if ttl is not None and not (ttl >= 0 and ttl != float("inf")):
            raise ValueError(f"'ttl' must be a finite number of seconds >= 0 or None; got {ttl!r}")
        self.ttl = float(ttl) if ttl else None
        self._clock = clock
        self._sizeof = sizeof
        # key -> [value, bytes]; cachetools orders by use, counts the bytes (currsize) and evicts the least recently
        # used entries until a new one fits
        self._lru = cachetools.LRUCache(maxsize=self.max_bytes, getsizeof=_entry_size)
        self._used: dict = {}  # key -> last use (clock), with a ttl; keys the LRU evicted are dropped by expire()
        self._lock = threading.Lock()
        self._key_locks: dict = {}
        self._janitor = None

    @property
    def total(self) -> int:
        """Bytes of the values kept."""
        return int(self._lru.currsize)

    def get(self, key, default=None):
        """The value of ``key`` (now the most recently used), or ``default`` when it is missing or expired."""
        with self._lock:
            entry = self._lru.get(key)
            if entry is None:
                return default
            if self.ttl is not None:
                now = self._clock()
                if now - self._used.get(key, now) > self.ttl:
                    self._drop(key)
                    return default
                self._used[key] = now
            return entry[0]

    def put(self, key, value):
        """Keep ``value`` under ``key`` (evicting the least recently used values until it fits) unless it is larger
        than ``max_item_bytes``; returns ``value``."""
        size = int(self._sizeof(value))
        self.expire()
        with self._lock:
            self._drop(key)
            if size > self.max_item_bytes:
                return value  # too large to keep: recomputed (or read from the disk cache) when needed
            self._lru[key] = [value, size]
            if self.ttl is not None:
                self._used[key] = self._clock()
            while self.max_items is not None and len(self._lru) > self.max_items:
                self._used.pop(self._lru.popitem()[0], None)
        self._start_janitor()
        return value

    def _drop(self, key) -> None:  # with self._lock held
        self._lru.pop(key, None)
        self._used.pop(key, None)

    def expire(self) -> int:
        """Drop the values unused for longer than ``ttl``; returns how many were dropped."""
        if self.ttl is None:
            return 0
        with self._lock:
            now = self._clock()
            old = []
            for key, used in list(self._used.items()):
                if key not in self._lru:  # evicted by the byte bound: only its time was left
                    del self._used[key]
                elif now - used > self.ttl:
                    old.append(key)
            for key in old:
                self._drop(key)
        return len(old)

    def lock(self, key) -> _KeyLock:
        """The lock of ``key`` (one per key while anyone holds a reference to it): who computes a missing value
        holds it, so that other threads wait for that value instead of computing it again."""
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
        return len(self._lru)

    def __contains__(self, key) -> bool:
        return key in self._lru

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()
            self._used.clear()


_MISSING = object()


class ArrayMemo(ByteMemo):
    """The solvers' form of :class:`ByteMemo`: ``get(kind, key, compute)`` returns ``compute()`` memoised under
    (kind, key), its numpy arrays made read-only and counted as its size; hits and misses are counted per kind and
    ``enabled = False`` turns the memo off (:func:`mastcore._linalg.no_memo`)."""

    def __init__(self, max_items: int, max_bytes: int):
        super().__init__(max_bytes, max_items=max_items, sizeof=array_bytes)
        self.enabled = True
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()

    def get(self, kind: str, key, compute):  # noqa: D102  (the solvers' call form, see the class docstring)
        if not self.enabled:
            return compute()
        full = (kind, key)
        hit = super().get(full, _MISSING)
        if hit is not _MISSING:
            self.hits[kind] += 1
            return hit
        value = compute()  # outside the lock: other kinds (and other keys) stay available meanwhile
        for arr in _arrays_of(value):
            arr.flags.writeable = False
        self.misses[kind] += 1
        return self.put(full, value)

    def clear(self) -> None:
        super().clear()
        self.hits.clear()
        self.misses.clear()


# --- keys on array content -----------------------------------------------------------------------------------------

_scope = threading.local()


@contextlib.contextmanager
def call_scope():
    """Context in which the content key of an array object is computed once: the arrays of one solver call are not
    modified while it runs (a 41 MB X takes ~30 ms to hash, and a call looks it up several times). Nested scopes
    share the outermost one; each thread has its own."""
    if getattr(_scope, "keys", None) is not None:
        yield
        return
    _scope.keys = {}
    try:
        yield
    finally:
        _scope.keys = None


def content_key(X: np.ndarray) -> tuple:
    """Shape, dtype and a 128-bit hash of the bytes of X: equal for equal content, whatever the array object."""
    keys = getattr(_scope, "keys", None)
    if keys is not None:
        hit = keys.get(id(X))
        if hit is not None and hit[0] is X:
            return hit[1]
    data = np.ascontiguousarray(X)
    key = data.shape, data.dtype.str, hashlib.blake2b(data.reshape(-1).view(np.uint8), digest_size=16).digest()
    if keys is not None:
        keys[id(X)] = (X, key)  # the reference keeps the id from being reused within the scope
    return key
