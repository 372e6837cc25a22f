"""The one thread policy of mastcore: how many BLAS and torch threads a call uses.

Every public entry point runs under :func:`policy` (through :func:`mastcore._api.solver`). Small matrices run with
one thread: there a multi-threaded BLAS only spins, and on a busy machine it is many times slower (measured: eigh
of an 80×80 matrix 11 ms with the default threads vs 1.4 ms with one, 2 busy cores). The caller's settings are
restored afterwards.
"""
from __future__ import annotations

import contextlib

from threadpoolctl import threadpool_limits

__all__ = ["SINGLE_THREAD_MAX_P", "limit_threads", "policy"]

#: Up to this many train points a call runs single-threaded.
SINGLE_THREAD_MAX_P = 400


@contextlib.contextmanager
def limit_threads(n: int | None):
    """Limit BLAS (threadpoolctl) and, if torch is already imported, torch intra-op threads to ``n`` (None: as is)."""
    if n is None:
        yield
        return
    import sys  # noqa: PLC0415

    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n, user_api="blas"):
        if torch is not None and old != n:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None and old != n:
                torch.set_num_threads(old)


def policy(method: str, *, P: int, **size):
    """Context with the thread count chosen for ``method`` on a problem of this size (see _api.problem_size)."""
    return limit_threads(1 if P <= SINGLE_THREAD_MAX_P else None)
