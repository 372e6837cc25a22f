"""The disk cache of expensive runs: one mechanism for every cached function.

A function that accepts ``cache: bool = False`` is made cacheable by :func:`cacheable` (the public solvers get it
through :func:`mastcore._api.solver`); ``cache=True`` then routes the call through :func:`cached_call`.

Keys
    The function's import path, a hash of the **source code the result depends on** — the function's module and
    every module of the same package it imports, transitively (module- and function-level imports, read with
    :mod:`ast`) — and the call's arguments bound to the signature with defaults applied (positional and keyword
    calls share an entry; arrays are hashed by content with :func:`joblib.hash`). Nothing is bumped by hand: a
    change to a solver's source gives new keys. ``progress`` callbacks and ``cache`` itself never enter a key.
    Modules that cannot change a result — the entry decorator, the resource budget, the thread policy, the cache,
    the parallel backends — declare ``CACHE_NEUTRAL = True`` and are left out of the hash, so editing them does
    not throw away hours of stored sampler runs.
Store
    ``<cache_dir()>/mastcore-cache/<function>/<key>/`` with ``result.joblib`` (the result, written with
    :func:`joblib.dump` to a temporary file and renamed into place) and ``entry.json`` (the marker: function,
    source hash, result type, size, optional metadata). Only directories holding such a marker are ever deleted.
Location
    ``$MASTCORE_CACHE_DIR`` if set; else ``<checkout>/cache`` when the package runs from a source tree (app.py and
    cache/ beside mastcore/); else the per-user cache directory of the platform (``platformdirs``, e.g.
    ``~/.cache/mastcore`` on Linux) — never inside site-packages.
Bounds
    ``$MASTCORE_CACHE_MAX_BYTES`` (default 2 GiB) caps the store: after each write the least recently used
    entries are evicted until the store fits (an entry bigger than the cap is not stored). Entries written by older
    code of the same function are pruned when a new one is written. A process may also cap its own share with
    :func:`set_share` (the dashboard does: its entries are labelled ``"app"`` and evicted first past their cap).
Safety
    A loaded entry is type-checked; an unreadable or mistyped entry is removed and recomputed with a
    :class:`CacheWarning`. Two processes asking for the same run are serialised by a per-key file lock (POSIX
    ``fcntl``), so the second waits and reads the first one's result. Entries are pickles, and unpickling runs
    code: the cache therefore refuses (with a :class:`CacheWarning`, running uncached) a directory on the way to an
    entry that is not owned by the current user or that others may write without the sticky bit, and skips any
    entry file not owned by the user or writable by others (:func:`unsafe_reason`). A shared folder such as /tmp
    itself is accepted (root's, sticky); the folder the cache creates in it is the user's own.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import json
import os
import pickle
import stat
import sys
import tempfile
import time
from pathlib import Path

import joblib

from .env import env_bytes
from .warn import warn

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no inter-process lock; the atomic rename keeps entries whole)
    fcntl = None

#: This module cannot change a result (see the module docstring, "Keys").
CACHE_NEUTRAL = True

__all__ = [
    "CacheMiss",
    "CacheWarning",
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

#: Name of the store inside :func:`cache_dir`; everything the cache writes lives below it.
STORE = "mastcore-cache"
#: The marker file of an entry directory. Only directories holding it are removed by eviction or clearing.
MARKER = "entry.json"
RESULT = "result.joblib"
LOCKS = "locks"
#: Default size cap of the store (bytes); override with $MASTCORE_CACHE_MAX_BYTES.
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Arguments that never enter a key.
EXCLUDED = ("progress", "cache")


class CacheWarning(RuntimeWarning):
    """A cache entry could not be read (it is recomputed) or written (the result is still returned)."""


class CacheMiss(LookupError):
    """Raised by ``cached_call(..., only_cached=True)`` when the result is not in the store."""


#: Name of the per-user cache directory (platformdirs) when the package is installed.
APP_NAME = "mastcore"


def _checkout_cache() -> Path | None:
    """``<checkout>/cache`` when the package runs from a source tree (app.py and cache/ beside mastcore/)."""
    root = Path(__file__).resolve().parents[2]  # mastcore/_plumbing/cache.py -> the checkout
    return root / "cache" if (root / "app.py").is_file() and (root / "cache").is_dir() else None


def cache_dir() -> Path:
    """Directory of the cache: ``$MASTCORE_CACHE_DIR`` if set, else ``<checkout>/cache`` in a source tree, else the
    per-user cache directory (``platformdirs.user_cache_dir("mastcore")``)."""
    env = os.environ.get("MASTCORE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    checkout = _checkout_cache()
    if checkout is not None:
        return checkout
    import platformdirs  # noqa: PLC0415  (only for an installed package)

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def max_bytes() -> int:
    """The size cap of the store: ``$MASTCORE_CACHE_MAX_BYTES`` (bytes, or e.g. "8G"), default 2 GiB."""
    return env_bytes("MASTCORE_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES, allow_zero=True)


_SHARE: dict = {"name": None, "max_bytes": None}


def set_share(name: str | None, max_bytes: int | None = None) -> None:
    """Label the entries this process writes with ``name`` and cap their total at ``max_bytes``.

    After each write, the least recently used entries of that label are evicted until they fit, before the store's
    own cap (:func:`max_bytes`) applies to all entries. ``set_share(None)`` removes the label. The dashboard calls
    ``set_share("app", ...)`` so that browsing cannot fill the disk (``$MASTCORE_APP_CACHE_MAX_BYTES``).
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"'name' must be a string or None; got {name!r}")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0):
        raise ValueError(f"'max_bytes' must be an integer >= 0 or None; got {max_bytes!r}")
    _SHARE.update(name=name, max_bytes=max_bytes if name is not None else None)


def _store() -> Path:
    return cache_dir() / STORE


# --- safety (entries are pickles: only the user's own files are ever loaded) ----------------------------------

def _uid() -> int | None:
    getuid = getattr(os, "getuid", None)
    return None if getuid is None else getuid()


def _unsafe_stat(path: Path, *, directory: bool) -> str | None:
    try:
        st = os.lstat(path)
    except OSError:  # missing (made by this process when written) or unusable (the write fails and says so)
        return None
    uid = _uid()
    if uid is None:  # pragma: no cover  (no POSIX owners: nothing to check)
        return None
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    sticky = directory and bool(st.st_mode & stat.S_ISVTX)
    owners = (uid, 0) if sticky else (uid,)  # a shared sticky folder (/tmp) is root's
    if st.st_uid not in owners:
        return f"{path} is owned by uid {st.st_uid}, not by the current user (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
        return f"{path} is writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'} (mode " \
               f"{stat.S_IMODE(st.st_mode):o})"
    return None


def unsafe_reason(entry: Path | None = None) -> str | None:
    """Why the cache directory (or one entry in it) must not be used, or None when it is safe.

    Every directory from :func:`cache_dir` down to ``entry`` must be owned by the current user and not writable by
    group or others, except a sticky shared folder (such as /tmp) as the cache directory itself; the entry's files
    must be the user's and not writable by group or others. Existing paths only: what does not exist yet is made
    by this process (owned by the user, mode from the umask).
    """
    root = cache_dir()
    paths = [root, root / STORE]
    if entry is not None:
        entry = Path(entry)
        paths += [entry.parent, entry]
    for p in paths:
        reason = _unsafe_stat(p, directory=True)
        if reason is not None:
            return reason
    if entry is not None:
        for name in (MARKER, RESULT):
            reason = _unsafe_stat(entry / name, directory=False)
            if reason is not None:
                return reason
    return None


# --- source hashing ------------------------------------------------------------------------------------------

def _module_file(name: str) -> Path | None:
    """Source file of module ``name`` (a .py file), or None when ``name`` is not a module of an imported package."""
    mod = sys.modules.get(name)
    path = getattr(mod, "__file__", None)
    if path is not None:
        return Path(path) if path.endswith(".py") else None
    top = sys.modules.get(name.split(".")[0])
    top_file = getattr(top, "__file__", None)
    if top_file is None:
        return None
    base = Path(top_file).parent.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, name: str, root: str) -> set[str]:
    """Modules of package ``root`` that ``path`` (module ``name``) imports anywhere, resolved to full names.

    ``from pkg import x`` counts x when it is a module, else pkg; parent packages are not added (their
    ``__init__`` only re-exports).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.add(sub if _module_file(sub) is not None else mod)
    return {m for m in found if m == root or m.startswith(root + ".")}


def _is_neutral(path: Path) -> bool:
    """True when the module declares ``CACHE_NEUTRAL = True`` at its top level (see :func:`source_hash`)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CACHE_NEUTRAL" for t in node.targets):
            return isinstance(node.value, ast.Constant) and node.value.value is True
    return False


def _closure(name: str) -> dict[str, Path]:
    """{module: file} of ``name`` and every module of its top-level package it imports, transitively, except the
    modules that declare ``CACHE_NEUTRAL = True`` (they cannot change a result)."""
    root = name.split(".")[0]
    seen: dict[str, Path] = {}
    skipped: set[str] = set()
    todo = [name]
    while todo:
        mod = todo.pop()
        if mod in seen or mod in skipped:
            continue
        path = _module_file(mod)
        if path is None:
            continue
        if mod != name and _is_neutral(path):
            skipped.add(mod)
            continue
        seen[mod] = path
        todo += sorted(_imports(path, mod, root))
    return seen


_SOURCE_MEMO: dict[str, tuple[list, tuple, str]] = {}


def source_hash(module: str) -> str:
    """SHA-256 of the source of ``module`` and every module of its package that it imports, transitively.

    Recomputed when any of those files changes (checked by size and modification time).
    """
    memo = _SOURCE_MEMO.get(module)
    if memo is not None:
        paths, stamp, digest = memo
        with contextlib.suppress(OSError):
            if stamp == tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths):
                return digest
    files = _closure(module)
    paths = [files[m] for m in sorted(files)]
    h = hashlib.sha256()
    for mod, path in zip(sorted(files), paths):
        h.update(mod.encode())
        h.update(path.read_bytes())
    digest = h.hexdigest()[:16]
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    _SOURCE_MEMO[module] = (paths, stamp, digest)
    return digest


# --- keys ------------------------------------------------------------------------------------------------

def _func_name(func) -> str:
    func = inspect.unwrap(func)
    return f"{func.__module__}.{func.__qualname__}"


def _bind(func, args, kwargs) -> dict:
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"cached_call: the arguments do not match {_func_name(func)}: {exc}") from None
    bound.apply_defaults()
    out = {}
    for name, value in bound.arguments.items():
        if name in EXCLUDED:
            continue
        if inspect.signature(func).parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            out.update({f"**{k}": v for k, v in sorted(value.items()) if k not in EXCLUDED})
        else:
            out[name] = value
    return out


def _expected_type(func):
    try:
        import typing  # noqa: PLC0415

        t = typing.get_type_hints(inspect.unwrap(func)).get("return")
    except Exception:  # noqa: BLE001  (unresolvable annotation: only the stored type name is checked)
        return None
    return t if isinstance(t, type) else None


# --- store -----------------------------------------------------------------------------------------------

def _read_marker(entry: Path) -> dict | None:
    try:
        meta = json.loads((entry / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("mastcore_cache") == 1 else None


def _entry_dirs():
    store = _store()
    if not store.is_dir():
        return
    for fdir in store.iterdir():
        if not fdir.is_dir() or fdir.name == LOCKS:
            continue
        for entry in fdir.iterdir():
            if entry.is_dir() and (entry / MARKER).is_file():
                yield entry


def _size(entry: Path) -> int:
    total = 0
    for f in entry.iterdir():
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    return total


def _remove_entry(entry: Path) -> int:
    """Delete one entry directory (only if it carries our marker). Returns the bytes freed."""
    meta = _read_marker(entry)
    if meta is None:
        return 0
    size = int(meta.get("bytes", _size(entry)))
    for name in (RESULT, MARKER):
        with contextlib.suppress(OSError):
            (entry / name).unlink()
    for f in entry.glob(".tmp-*"):  # our own unfinished writes
        with contextlib.suppress(OSError):
            f.unlink()
    with contextlib.suppress(OSError):
        entry.rmdir()  # only if empty: a user's file inside stays, and so does the directory
    with contextlib.suppress(OSError):
        entry.parent.rmdir()
    return size


def entries(function: str | None = None) -> list[dict]:
    """Metadata of every stored entry (optionally of one function), least recently used first.

    Each dict has ``function``, ``key``, ``source``, ``type``, ``bytes``, ``created``, ``used`` (last access,
    epoch seconds), ``path`` and the caller's ``meta`` (see :func:`cached_call`).
    """
    out = []
    for entry in _entry_dirs() or ():
        meta = _read_marker(entry)
        if meta is None or (function is not None and meta.get("function") != function):
            continue
        try:
            st = (entry / MARKER).stat()
        except OSError:
            continue
        if _uid() is not None and st.st_uid != _uid():  # another user's (planted) entry: not listed
            continue
        used = st.st_mtime
        out.append({**meta, "used": used, "path": str(entry)})
    return sorted(out, key=lambda m: m["used"])


def _evict(cap: int, keep: Path | None = None, share: str | None = None) -> None:
    """Remove least-recently-used entries until the store (or the entries labelled ``share``) holds at most ``cap``
    bytes (``keep`` stays)."""
    items = [m for m in entries() if share is None or m.get("share") == share]
    total = sum(int(m.get("bytes", 0)) for m in items)
    for m in items:
        if total <= cap:
            break
        if keep is not None and Path(m["path"]) == keep:
            continue
        total -= _remove_entry(Path(m["path"]))


def _prune_old(function: str, source: str) -> None:
    """Remove the entries of ``function`` written by other versions of its source."""
    for m in entries(function):
        if m.get("source") != source:
            _remove_entry(Path(m["path"]))


@contextlib.contextmanager
def _key_lock(key: str):
    """Exclusive inter-process lock for one key (no-op where fcntl is unavailable or the lock can't be made)."""
    if fcntl is None:
        yield
        return
    path = _store() / LOCKS / f"{key}.lock"
    try:
        _mkdirs(path.parent)
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


def _load(entry: Path, meta: dict, func):
    obj = joblib.load(entry / RESULT)
    stored = meta.get("type")
    actual = f"{type(obj).__module__}.{type(obj).__qualname__}"
    expected = _expected_type(func)
    if stored != actual or (expected is not None and not isinstance(obj, expected)):
        raise TypeError(f"stored {stored}, loaded {actual}, expected {getattr(expected, '__name__', '?')}")
    return obj


def _mkdirs(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700 (private whatever the umask; see unsafe_reason)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)


def _write(entry: Path, result, meta: dict) -> None:
    cap = max_bytes()
    if _SHARE["max_bytes"] is not None:
        cap = min(cap, _SHARE["max_bytes"])
    _mkdirs(entry)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=entry)
    os.close(fd)
    try:
        joblib.dump(result, tmp)
        size = os.path.getsize(tmp)
        if size > cap:
            raise OSError(f"the result ({size} bytes) is larger than the cache cap ({cap} bytes)")
        meta = {**meta, "bytes": size}
        marker_tmp = entry / f".tmp-{MARKER}"
        marker_tmp.write_text(json.dumps(meta, default=str), encoding="utf-8")
        os.chmod(marker_tmp, 0o600)  # the user's own, whatever the umask (see unsafe_reason)
        os.replace(tmp, entry / RESULT)
        os.replace(marker_tmp, entry / MARKER)  # the marker last: an entry without it is never read
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        with contextlib.suppress(OSError):
            (entry / f".tmp-{MARKER}").unlink()
        with contextlib.suppress(OSError):
            entry.rmdir()
        raise
    if _SHARE["name"] is not None and _SHARE["max_bytes"] is not None:
        _evict(_SHARE["max_bytes"], keep=entry, share=_SHARE["name"])
    _evict(max_bytes(), keep=entry)


def _prepare(func, args, kwargs):
    """(name, source, key, kwargs to call with) of a call; raises OSError/SyntaxError when the source is unreadable."""
    kwargs = dict(kwargs)
    kwargs.pop("cache", None)
    if "cache" in inspect.signature(func).parameters:
        kwargs["cache"] = False
    name = _func_name(func)
    arguments = _bind(func, args, kwargs)
    source = source_hash(inspect.unwrap(func).__module__)
    return name, source, joblib.hash((name, source, arguments)), kwargs


def _put(entry: Path, name: str, key: str, source: str, result, meta) -> None:
    info = {
        "mastcore_cache": 1, "function": name, "key": key, "source": source,
        "type": f"{type(result).__module__}.{type(result).__qualname__}", "created": time.time(),
        "meta": (meta(result) if callable(meta) else meta) or {},
    }
    if _SHARE["name"] is not None:
        info["share"] = _SHARE["name"]
    try:
        _prune_old(name, source)
        _write(entry, result, info)
    except (OSError, TypeError, ValueError, pickle.PicklingError) as exc:
        warn(f"could not write the cache entry for {name}: {exc}", CacheWarning)


def cached_call(func, *args, meta=None, only_cached: bool = False, **kwargs):
    """Run ``func(*args, cache=False, **kwargs)`` through the store and return its result.

    Parameters
    ----------
    func : a module-level function (identified by its import path; it may accept ``cache`` and ``progress``, which
        are passed through but never hashed).
    *args, **kwargs : its arguments (bound to its signature with defaults applied to form the key).
    meta : optional dict, or callable(result) -> dict, of JSON-serialisable facts stored beside the entry and
        returned by :func:`entries` (the dashboard lists its runs from them).
    only_cached : raise :class:`CacheMiss` instead of computing when the result is not in the store.

    Returns
    -------
    The function's result, from the store when an identical call was stored by the same code before. When the
    cache directory is unsafe (:func:`unsafe_reason`) the function runs uncached, with a :class:`CacheWarning`.
    """
    try:
        name, source, key, kwargs = _prepare(func, args, kwargs)
    except (OSError, SyntaxError) as exc:  # source unreadable: run without the cache
        name = _func_name(func)
        warn(f"cache key for {name} unavailable ({exc}); running uncached", CacheWarning)
        if only_cached:
            raise CacheMiss(f"{name}: no cache key ({exc})") from None
        kwargs.pop("cache", None)
        return func(*args, **kwargs)
    entry = _store() / name / key
    reason = unsafe_reason()
    if reason is not None:
        warn(f"the cache directory is not safe to use ({reason}); running {name} uncached. Use a directory of "
             "your own (chmod go-w) or set MASTCORE_CACHE_DIR", CacheWarning)
        if only_cached:
            raise CacheMiss(f"{name}: the cache directory is not safe to use ({reason})")
        return func(*args, **kwargs)
    with _key_lock(key):
        stored = _read_marker(entry) if entry.is_dir() else None
        if stored is not None:
            reason = unsafe_reason(entry)
            if reason is not None:  # planted or tampered with: never unpickled, never overwritten
                warn(f"cache entry for {name} in {entry} is not safe to load ({reason}); running uncached",
                     CacheWarning)
                if only_cached:
                    raise CacheMiss(f"{name}: the stored entry is not safe to load ({reason})")
                return func(*args, **kwargs)
            try:
                result = _load(entry, stored, func)
                with contextlib.suppress(OSError):
                    os.utime(entry / MARKER)  # last use, for the LRU eviction
                return result
            except Exception as exc:  # noqa: BLE001  (damaged or mistyped entry: drop it and recompute)
                warn(
                    f"cache entry for {name} in {entry} is unusable ({type(exc).__name__}: {exc}); recomputing it",
                    CacheWarning,
                )
                _remove_entry(entry)
        if only_cached:
            raise CacheMiss(f"{name} with these arguments is not in the cache")
        result = func(*args, **kwargs)
        _put(entry, name, key, source, result, meta)
        return result


def store_result(func, result, *args, meta=None, **kwargs) -> None:
    """Store ``result`` as the value of ``func(*args, **kwargs)`` — computed elsewhere, e.g. on a cluster worker —
    under the key :func:`cached_call` would use, so that a later ``cached_call`` (or ``cache="only"``) reads it.

    The writing happens in the calling process, with its cache directory. Warns and stores nothing when the
    directory is unsafe or the key cannot be formed.
    """
    try:
        name, source, key, _ = _prepare(func, args, kwargs)
    except (OSError, SyntaxError) as exc:
        warn(f"cache key for {_func_name(func)} unavailable ({exc}); not stored", CacheWarning)
        return
    entry = _store() / name / key
    reason = unsafe_reason(entry if entry.is_dir() else None)
    if reason is not None:
        warn(f"the cache is not safe to use ({reason}); {name} not stored", CacheWarning)
        return
    with _key_lock(key):
        _put(entry, name, key, source, result, meta)


def cacheable(func):
    """Decorator: ``func(..., cache=True)`` goes through :func:`cached_call`; ``cache=False`` calls it directly.

    ``func`` must have a ``cache`` parameter (default False).
    """
    sig = inspect.signature(func)
    if "cache" not in sig.parameters:
        raise TypeError(f"{func.__qualname__} needs a 'cache' parameter to be cacheable")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        bound = sig.bind_partial(*args, **kwargs)
        if bound.arguments.get("cache", sig.parameters["cache"].default):
            return cached_call(func, *args, **kwargs)
        return func(*args, **kwargs)

    return wrapper


# --- inspection and clearing -----------------------------------------------------------------------------

def cache_info() -> dict:
    """Summary of the store: ``{"path", "entries", "bytes", "max_bytes", "functions": {name: {"entries", "bytes"}},
    "unsafe"}`` (``unsafe``: why the directory is refused, or None; see :func:`unsafe_reason`).

    Only cache entries are counted (other files in the directory are not).
    """
    functions: dict[str, dict] = {}
    total = n = 0
    for m in entries():
        d = functions.setdefault(m["function"], {"entries": 0, "bytes": 0})
        d["entries"] += 1
        d["bytes"] += int(m.get("bytes", 0))
        total += int(m.get("bytes", 0))
        n += 1
    return {"path": str(cache_dir()), "entries": n, "bytes": total, "max_bytes": max_bytes(), "functions": functions,
            "unsafe": unsafe_reason()}


def clear_cache() -> int:
    """Delete every stored entry and the cache's own lock files; other files stay. Returns the bytes freed."""
    freed = 0
    for m in entries():
        freed += _remove_entry(Path(m["path"]))
    locks = _store() / LOCKS
    if locks.is_dir():
        for f in locks.glob("*.lock"):
            with contextlib.suppress(OSError):
                f.unlink()
        with contextlib.suppress(OSError):
            locks.rmdir()
    store = _store()
    if store.is_dir():
        for d in store.iterdir():
            if d.is_dir():
                with contextlib.suppress(OSError):
                    d.rmdir()  # empty function directories only
        with contextlib.suppress(OSError):
            store.rmdir()
    return freed


def format_info(info: dict) -> str:
    """Human-readable :func:`cache_info` (``python -m mastcore cache info``)."""
    lines = [f"cache: {info['path']}",
             f"entries: {info['entries']}, size: {_human(info['bytes'])} (cap {_human(info['max_bytes'])})"]
    for name, d in sorted(info["functions"].items()):
        lines.append(f"  {name}: {d['entries']} entries, {_human(d['bytes'])}")
    if info.get("unsafe"):
        lines.append(f"REFUSED (runs are not cached): {info['unsafe']}")
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
