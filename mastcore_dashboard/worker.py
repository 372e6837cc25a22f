"""Long computations in a worker process: progress messages, a Cancel that stops them at once, and a server
that never holds their working memory.

A :class:`Job` runs ``fn(progress)`` in a child of a fork server (``multiprocessing``'s "forkserver" start method,
with mastcore imported once in the server, so a job starts in milliseconds), relays the library's
``progress(done, total, info)`` calls back, and returns the result (pickled through a pipe). ``cancel()`` kills the
child: a solver stuck inside one χ point, a sampler between progress calls or an allocation that would exhaust
memory all stop immediately, and their memory goes back to the system. No Streamlit here (mastcore_dashboard/widgets.py
draws the progress bar and the Cancel button around a Job).
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from typing import Any, Callable

__all__ = ["Call", "Job", "JobError"]

#: Modules the fork server imports once, so that each job starts without importing mastcore again.
PRELOAD = ["mastcore_dashboard.compute"]
#: Environment variables a job takes from the server at the moment it starts (cache folder, memory limit, ...).
ENV_PREFIX = "MASTCORE_"
#: Shortest interval between two progress messages from a job (seconds).
PROGRESS_INTERVAL = 0.05

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _CONTEXT = ctx
    return _CONTEXT


class JobError(RuntimeError):
    """The worker process ended without a result (killed by the system, e.g. out of memory)."""


class Call:
    """A picklable ``fn(progress)``: ``Call(func, *args, **kwargs)(progress)`` calls
    ``func(*args, progress=progress, **kwargs)``. ``func`` must be importable (a module-level function)."""

    def __init__(self, func: Callable, *args, **kwargs):
        self.func, self.args, self.kwargs = func, args, kwargs

    def __call__(self, progress=None):
        return self.func(*self.args, progress=progress, **self.kwargs)

    def __repr__(self) -> str:
        return f"Call({getattr(self.func, '__qualname__', self.func)!r}, ...)"


def _plain(info) -> dict:
    """The progress ``info`` reduced to plain numbers and short strings (cheap to send)."""
    out = {}
    for k, v in (info or {}).items():
        if isinstance(v, (int, float, str, bool)):
            out[str(k)] = v if not isinstance(v, str) else v[:80]
    return out


def _child(conn, fn, env: dict) -> None:
    # the fork server was started with the environment of its time: take the job's own mastcore settings
    for k in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[k]
    os.environ.update(env)
    last = [0.0]

    def progress(done, total, info=None):
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL and done < total:
            return
        last[0] = now
        try:
            conn.send(("progress", int(done), int(total), _plain(info)))
        except (OSError, ValueError):
            pass

    try:
        result = fn(progress)
    except BaseException as exc:  # noqa: BLE001  (everything goes back to the parent, which re-raises it)
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001  (an exception that cannot be pickled: send its text)
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        return
    conn.send(("done", result))


class Job:
    """``fn(progress)`` in a worker process (see the module docstring).

    Use: ``job = Job(fn).start()``, then ``job.poll(timeout)`` until ``job.finished``; ``job.result`` is the
    value (``job.error`` the exception if ``fn`` raised, re-raised by :meth:`value`); ``job.cancel()`` stops it.
    ``done``, ``total`` and ``info`` hold the last progress report.
    """

    def __init__(self, fn: Callable[[Callable], Any]):
        self.fn = fn
        self.proc = None
        self.conn = None
        self.finished = False
        self.cancelled = False
        self.result = None
        self.error: BaseException | None = None
        self.done, self.total, self.info = 0, 0, {}
        self.started = math.nan

    def start(self) -> "Job":
        ctx = _context()
        parent, child = ctx.Pipe(duplex=False)
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        self.proc = ctx.Process(target=_child, args=(child, self.fn, env), daemon=True)
        self.started = time.monotonic()
        self.proc.start()
        child.close()
        self.conn = parent
        return self

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self, timeout: float = 0.1) -> bool:
        """Read what the job sent within ``timeout`` seconds; True once it has finished (result or error)."""
        if self.finished:
            return True
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                ready = self.conn.poll(remaining)
            except (OSError, EOFError):
                ready = False
            if ready:
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is None:
                    self._died()
                    return True
                if msg[0] == "progress":
                    self.done, self.total, self.info = msg[1], msg[2], msg[3]
                elif msg[0] == "done":
                    self.result, self.finished = msg[1], True
                    self._reap()
                    return True
                elif msg[0] == "error":
                    self.error, self.finished = msg[1], True
                    self._reap()
                    return True
                continue
            if not self.proc.is_alive():
                # the child may have sent its last message just before exiting
                if self.conn.poll(0):
                    continue
                self._died()
                return True
            if time.monotonic() >= deadline:
                return False

    def _died(self) -> None:
        self.proc.join(timeout=1.0)
        code = self.proc.exitcode
        hint = " (killed by the system: probably out of memory)" if code in (-9, 137) else ""
        self.error = JobError(f"the computation stopped without a result (exit code {code}){hint}")
        self.finished = True
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            self.proc.join(timeout=2.0)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(timeout=2.0)
        if self.conn is not None:
            self.conn.close()

    def cancel(self) -> None:
        """Stop the job now (kill the worker); nothing if it has finished."""
        if self.proc is None or self.finished:
            return
        self.cancelled = True
        self.proc.kill()
        self.proc.join(timeout=5.0)
        self.finished = True
        if self.conn is not None:
            self.conn.close()

    def value(self):
        """The result, or raise the job's exception."""
        if self.error is not None:
            raise self.error
        return self.result

    def run(self, on_progress: Callable | None = None, poll: float = 0.1):
        """Start, wait (calling ``on_progress(done, total, info, elapsed)`` after each poll) and return the
        result; the worker is killed if this is interrupted (e.g. KeyboardInterrupt or a Streamlit rerun)."""
        if self.proc is None:
            self.start()
        try:
            while not self.poll(poll):
                if on_progress is not None:
                    on_progress(self.done, self.total, self.info, self.elapsed)
        finally:
            self.cancel()
        return self.value()
