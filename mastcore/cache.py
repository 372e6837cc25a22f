"""The disk cache of expensive runs (``cache=True`` of every solver and of :func:`mastcore.sweep`).

The public face of the cache: what to call to inspect, clear or bound it, and the exceptions it raises. The
machinery — keys from the source code a result depends on, the store, its bounds and its safety checks — is
:mod:`mastcore._plumbing.cache` (its docstring describes it); ``python -m mastcore cache info`` prints
:func:`cache_info`.
"""
from __future__ import annotations

from ._plumbing.cache import (
    DEFAULT_MAX_BYTES,
    MARKER,
    RESULT,
    STORE,
    CacheMiss,
    CacheWarning,
    cache_dir,
    cache_info,
    cacheable,
    cached_call,
    clear_cache,
    entries,
    format_info,
    max_bytes,
    set_share,
    source_hash,
    store_result,
    unsafe_reason,
)

#: This module cannot change a result (mastcore._plumbing.cache, "Keys").
CACHE_NEUTRAL = True

__all__ = [
    "CacheMiss",
    "CacheWarning",
    "DEFAULT_MAX_BYTES",
    "MARKER",
    "RESULT",
    "STORE",
    "cache_dir",
    "cache_info",
    "cacheable",
    "cached_call",
    "clear_cache",
    "entries",
    "format_info",
    "max_bytes",
    "set_share",
    "source_hash",
    "store_result",
    "unsafe_reason",
]
