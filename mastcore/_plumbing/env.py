"""The one parser of byte sizes in the environment: every ``$MASTCORE_*_BYTES`` variable (the memory limit of a
call, the disk cache's cap, the app's cache share and memo) is read through :func:`env_bytes` (docs/operations.md).
"""
from __future__ import annotations

import math
import os

#: This module cannot change a result: the cache's source hash leaves it out (mastcore._plumbing.cache, "Keys").
CACHE_NEUTRAL = True

__all__ = ["env_bytes", "parse_bytes"]

_BYTE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2,
               "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4, "TB": 1024**4, "TIB": 1024**4}


def parse_bytes(text, name: str, *, allow_zero: bool = False) -> int:
    """'8G', '512 MiB', '1e9' → bytes (binary units); ValueError naming ``name`` otherwise. The one parser of byte
    sizes (every ``$MASTCORE_*_BYTES`` variable reads through :func:`env_bytes`)."""
    raw = str(text).strip()
    num = raw.rstrip("BbKkMmGgTtIi ")
    unit = raw[len(num):].strip().upper()
    try:
        value = float(num)
    except ValueError:
        value = float("nan")
    low_ok = value >= 0 if allow_zero else value > 0
    if unit not in _BYTE_UNITS or not math.isfinite(value) or not low_ok:
        what = "a number of bytes >= 0" if allow_zero else "a positive number of bytes"
        raise ValueError(f"'{name}' must be {what} such as 8000000000 or 8G; got {raw!r}")
    return int(value * _BYTE_UNITS[unit])


def env_bytes(name: str, default: int, *, allow_zero: bool = False) -> int:
    """The byte size in environment variable ``name`` (:func:`parse_bytes`), or ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    return parse_bytes(raw, name, allow_zero=allow_zero) if raw else int(default)
