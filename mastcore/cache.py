"""Disk cache of expensive runs (exact posterior, Langevin ensembles, annealed sweeps) through joblib.Memory.

Contract (COMMON brief): a function ``f`` that accepts ``cache: bool = False`` starts with
``if cache: return cached_call(f, <all its arguments>)``; :func:`cached_call` then runs ``f(..., cache=False)``
through :class:`joblib.Memory` under :func:`cache_dir` (``$MASTCORE_CACHE_DIR``, default ``<repo>/cache``).

Keys
    The function's import path, :data:`SOLVER_VERSION` (plus an optional per-function ``__solver_version__``
    attribute that a module bumps when its numerics change; joblib only hashes the code of the function it wraps)
    and the call's arguments bound to the signature with defaults applied (so positional and keyword calls share
    an entry). ``progress`` callbacks and ``cache`` itself are not part of the key. Arrays are hashed by content
    (joblib.hash); callers that have a plain spec (TaskSpec) should pass it instead of big arrays.
Robustness
    Writes are atomic (joblib writes to a temporary file and renames it). A corrupted or unreadable entry is
    removed and recomputed with a :class:`CacheWarning`. Two processes asking for the same run are serialised
    by a per-key file lock (POSIX ``fcntl``), so the second one waits and reads the first one's result instead of
    computing it again; without ``fcntl`` both compute and the atomic rename keeps the entry whole.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import warnings
from pathlib import Path

import joblib

__all__ = ["SOLVER_VERSION", "CacheWarning", "cache_dir", "cache_info", "cached_call", "clear_cache"]

#: Part of every key: bump when a solver's numerics change in a way that invalidates stored results.
SOLVER_VERSION = "2026.11.28-1"

#: Arguments that never enter a key (callbacks and the cache switch itself).
_EXCLUDED = ("progress", "cache")
_JOBLIB_DIR = "joblib"
_LOCK_DIR = "locks"


class CacheWarning(RuntimeWarning):
    """A cache entry could not be read (it is recomputed) or could not be written (the result is still returned)."""


def cache_dir() -> Path:
    """Directory of the cache: ``$MASTCORE_CACHE_DIR`` if set, else ``<repo>/cache``."""
    env = os.environ.get("MASTCORE_CACHE_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "cache"


_MEMORIZED: dict = {}


def _memorized():
    """The joblib-wrapped :func:`_run` for the current cache directory (one per directory, reused)."""
    loc = str(cache_dir())
    if loc not in _MEMORIZED:
        _MEMORIZED[loc] = joblib.Memory(location=loc, verbose=0).cache(_run, ignore=["func", "progress"])
    return _MEMORIZED[loc]


def _func_name(func) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', getattr(func, '__name__', '?'))}"


def _run(name: str, version: str, arguments: dict, func=None, progress=None):
    """The cached unit: ``func`` bound to ``arguments`` (``func`` and ``progress`` are excluded from the key)."""
    sig = inspect.signature(func)
    full = {}
    for pname in sig.parameters:
        if pname == "cache":
            full[pname] = False
        elif pname == "progress":
            full[pname] = progress
        elif pname in arguments:
            full[pname] = arguments[pname]
    bound = inspect.BoundArguments(sig, full)
    return func(*bound.args, **bound.kwargs)


def _bind(func, args, kwargs) -> dict:
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"cached_call: the arguments do not match {_func_name(func)}: {exc}") from None
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in _EXCLUDED}


@contextlib.contextmanager
def _key_lock(key: str):
    """Exclusive inter-process lock for one key (no-op where fcntl is unavailable or the lock can't be made)."""
    try:
        import fcntl  # noqa: PLC0415
    except ImportError:  # pragma: no cover  (Windows)
        yield
        return
    path = cache_dir() / _LOCK_DIR / f"{key}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115
    except OSError:
        yield
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def cached_call(func, *args, **kwargs):
    """Run ``func(*args, cache=False, **kwargs)`` through the joblib cache and return its result.

    Parameters
    ----------
    func : a module-level function (it is identified by its import path; it may accept ``cache`` and
        ``progress``, which are passed through but never hashed).
    *args, **kwargs : its arguments (bound to its signature with defaults applied to form the key).

    Returns
    -------
    The function's result, from the cache when an identical call was stored before.
    """
    progress = kwargs.pop("progress", None)
    kwargs.pop("cache", None)
    name = _func_name(func)
    version = f"{SOLVER_VERSION}/{getattr(func, '__solver_version__', '0')}"
    arguments = _bind(func, args, kwargs)
    call = dict(name=name, version=version, arguments=arguments, func=func, progress=progress)
    try:
        mem_func = _memorized()
        key = joblib.hash((name, version, arguments))
    except OSError as exc:  # e.g. a read-only or missing cache location: run without the cache
        warnings.warn(f"cache unavailable at {cache_dir()} ({exc}); running {name} uncached", CacheWarning,
                      stacklevel=2)
        return _run(**call)
    with _key_lock(key):
        try:
            in_cache = mem_func.check_call_in_cache(**call)
        except Exception:  # noqa: BLE001  (an unreadable store is a miss)
            in_cache = False
        if in_cache:
            ref = mem_func.call_and_shelve(**call)
            try:
                return ref.get()
            except Exception as exc:  # noqa: BLE001  (corrupted entry: drop it and recompute)
                warnings.warn(
                    f"cache entry for {name} in {cache_dir()} is unreadable ({type(exc).__name__}: {exc}); "
                    "recomputing it",
                    CacheWarning,
                    stacklevel=2,
                )
                with contextlib.suppress(Exception):
                    ref.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = mem_func(**call)
        for w in caught:  # joblib reports failed writes as a UserWarning; pass everything else on unchanged
            if "Unable to cache to disk" in str(w.message):
                warnings.warn(f"could not write the cache entry for {name}: {w.message}", CacheWarning, stacklevel=2)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return result


def _entries():
    """(function name, entry directory, bytes) for every stored call."""
    root = cache_dir() / _JOBLIB_DIR
    if not root.is_dir():
        return
    for out in root.rglob("output.pkl"):
        entry = out.parent
        name = "?"
        try:
            meta = json.loads((entry / "metadata.json").read_text())
            name = str(meta.get("input_args", {}).get("name", "?")).strip("'\"")
        except (OSError, ValueError, AttributeError):
            pass
        size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
        yield name, entry, size


def cache_info() -> dict:
    """Summary of the cache: ``{"path", "entries", "bytes", "functions": {name: {"entries", "bytes"}}}``."""
    root = cache_dir()
    total = 0
    if root.is_dir():
        total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    functions: dict[str, dict] = {}
    n = 0
    for name, _, size in _entries() or ():
        d = functions.setdefault(name, {"entries": 0, "bytes": 0})
        d["entries"] += 1
        d["bytes"] += size
        n += 1
    return {"path": str(root), "entries": n, "bytes": total, "functions": functions}


def clear_cache() -> int:
    """Delete every stored result (the directory's README.md / .gitignore stay). Returns the bytes freed."""
    before = cache_info()["bytes"]
    root = cache_dir()
    for sub in (_JOBLIB_DIR, _LOCK_DIR):
        shutil.rmtree(root / sub, ignore_errors=True)
    return before - cache_info()["bytes"]


def format_info(info: dict) -> str:
    """Human-readable :func:`cache_info` (used by ``python -m mastcore cache info``)."""
    lines = [f"cache: {info['path']}", f"entries: {info['entries']}, size: {_human(info['bytes'])}"]
    for name, d in sorted(info["functions"].items()):
        lines.append(f"  {name}: {d['entries']} entries, {_human(d['bytes'])}")
    return "\n".join(lines)


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
