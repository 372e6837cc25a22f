"""A process-wide memo bounded in bytes: the app's thin layer over mastcore's disk cache.

One memo serves every session of a server, so its size is what a stranger's links can make the server hold.
It keeps the most recently used values up to ``max_bytes`` in total (default 512 MiB, ``$MASTCORE_APP_MEMO_BYTES``)
and refuses values larger than ``max_item_bytes`` (default an eighth of it): those are recomputed (or read from
the disk cache) when needed instead of staying in memory. No Streamlit here.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["ByteMemo", "DEFAULT_MAX_BYTES", "memo_max_bytes", "nbytes"]

DEFAULT_MAX_BYTES = 512 * 2**20
ENV = "MASTCORE_APP_MEMO_BYTES"


def memo_max_bytes() -> int:
    """The memo's bound: ``$MASTCORE_APP_MEMO_BYTES`` (bytes) or 512 MiB."""
    raw = os.environ.get(ENV)
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        v = int(float(raw))
    except ValueError:
        raise ValueError(f"'{ENV}' must be a number of bytes; got {raw!r}") from None
    if v < 0:
        raise ValueError(f"'{ENV}' must be >= 0; got {raw!r}")
    return v


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
    """Least-recently-used memo bounded by the bytes of its values (thread-safe).

    ``put`` returns the value whether or not it was kept; ``get`` returns None on a miss.
    """

    def __init__(self, max_bytes: int | None = None, max_item_bytes: int | None = None):
        self.max_bytes = memo_max_bytes() if max_bytes is None else int(max_bytes)
        self.max_item_bytes = self.max_bytes // 8 if max_item_bytes is None else int(max_item_bytes)
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._lock = threading.Lock()
        self.total = 0

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value):
        size = nbytes(value)
        with self._lock:
            if key in self._items:
                self.total -= self._sizes.pop(key)
                del self._items[key]
            if size > self.max_item_bytes:
                return value  # too large to keep: recomputed (or read from the disk cache) when needed
            self._items[key] = value
            self._sizes[key] = size
            self.total += size
            while self.total > self.max_bytes and self._items:
                old, _ = self._items.popitem(last=False)
                self.total -= self._sizes.pop(old)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key) -> bool:
        return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self.total = 0
