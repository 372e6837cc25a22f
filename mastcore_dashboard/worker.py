"""Long computations in a worker process: progress messages, a Cancel that stops them at once, and a server
that never holds their working memory.

A :class:`Job` runs ``fn(progress)`` in a child of a fork server (``multiprocessing``'s "forkserver" start method,
with mastcore imported once in the server, so a job starts in milliseconds), relays the library's
``progress(done, total, info)`` calls back, and returns the result (pickled through a pipe). ``cancel()`` kills the
child: a solver stuck inside one χ point, a sampler between progress calls or an allocation that would exhaust
memory all stop immediately, and their memory goes back to the system. ``pause()`` holds the job at its next progress
report (e.g. between two blocks of a streamed Langevin run) until ``resume()``; a job paused for longer than
PAUSE_MAX_SECONDS stops (nobody came back for it). No Streamlit here (mastcore_dashboard/runs.py draws the
progress bar and the Pause, Resume and Cancel buttons around a Job).
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
#: A paused job that is not resumed within this many seconds stops (its session was probably closed).
PAUSE_MAX_SECONDS = 900.0
#: Progress reports a Job keeps (its ``history``, e.g. the points of a live panel).
HISTORY_MAX = 2000

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


def _hold(conn, pause) -> None:
    """Wait while ``pause`` is set (telling the parent when the job stops and goes on); raise after
    PAUSE_MAX_SECONDS."""
    if pause is None or not pause.is_set():
        return
    conn.send(("paused", True))
    if not pause.wait_clear(PAUSE_MAX_SECONDS):
        raise RuntimeError(f"paused for more than {PAUSE_MAX_SECONDS:.0f} s: stopped")
    conn.send(("paused", False))


class _PauseFlag:
    """A multiprocessing Event with a wait for it to be *cleared* (Event.wait waits for set)."""

    def __init__(self, ctx):
        self.event = ctx.Event()

    def set(self):
        self.event.set()

    def clear(self):
        self.event.clear()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait_clear(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.event.is_set():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


def _child(conn, fn, env: dict, pause=None) -> None:
    # the fork server was started with the environment of its time: take the job's own mastcore settings
    for k in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[k]
    os.environ.update(env)
    last = [0.0]

    def progress(done, total, info=None):
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL or done >= total:
            last[0] = now
            try:
                conn.send(("progress", int(done), int(total), _plain(info)))
            except (OSError, ValueError):
                pass
        if done < total:  # a pause holds the work here, between two of its steps
            _hold(conn, pause)

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
    ``done``, ``total`` and ``info`` hold the last progress report, ``history`` every report as
    ``(running seconds, done, total, info)``. ``pause()`` / ``resume()``: ``paused`` is True once the job has
    stopped at a progress report; ``running_seconds`` leaves the pauses out.
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
        self.history: list[tuple] = []
        self.started = math.nan
        self.pause_requested = False
        self.paused = False
        self._pause = None
        self._paused_at = math.nan
        self._paused_total = 0.0

    def start(self) -> "Job":
        ctx = _context()
        parent, child = ctx.Pipe(duplex=False)
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        self._pause = _PauseFlag(ctx)
        self.proc = ctx.Process(target=_child, args=(child, self.fn, env, self._pause), daemon=True)
        self.started = time.monotonic()
        self.proc.start()
        child.close()
        self.conn = parent
        return self

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def running_seconds(self) -> float:
        """Seconds the job has worked: the time since its start less its pauses."""
        now = self._paused_at if self.paused else time.monotonic()
        return now - self.started - self._paused_total

    def pause(self) -> None:
        """Hold the job at its next progress report (``paused`` turns True when it is held there)."""
        if self._pause is not None and not self.finished:
            self.pause_requested = True
            self._pause.set()

    def resume(self) -> None:
        """Let a paused job go on."""
        if self._pause is not None:
            self.pause_requested = False
            self._pause.clear()

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
                    if len(self.history) < HISTORY_MAX:
                        self.history.append((self.running_seconds, msg[1], msg[2], msg[3]))
                elif msg[0] == "paused":
                    if msg[1] and not self.paused:
                        self.paused, self._paused_at = True, time.monotonic()
                    elif not msg[1] and self.paused:
                        self.paused = False
                        self._paused_total += time.monotonic() - self._paused_at
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
