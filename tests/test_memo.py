"""The one byte-bounded LRU (mastcore/_plumbing/memo.py): the byte and item bounds evict the least recently used
value, a ttl drops idle values, per-key locks, the solvers' form (ArrayMemo) and thread safety."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from mastcore import _linalg
from mastcore._plumbing.memo import ArrayMemo, ByteMemo, nbytes

#: Bytes of one value of these tests (sizeof: a fixed size per value, so the bounds are exact).
ITEM = 100


def _fixed(_value) -> int:
    return ITEM


def test_byte_bound_evicts_the_least_recently_used():
    memo = ByteMemo(3 * ITEM, sizeof=_fixed)
    for k in "abc":
        memo.put(k, k.upper())
    assert memo.total == 3 * ITEM and len(memo) == 3
    assert memo.get("a") == "A"  # a use: "a" is now the most recently used, "b" the least
    memo.put("d", "D")
    assert "b" not in memo and [k in memo for k in "acd"] == [True, True, True]
    assert memo.total == 3 * ITEM
    memo.put("c", "C2")  # replacing a value does not count it twice
    assert memo.total == 3 * ITEM and memo.get("c") == "C2"


def test_item_bound_and_values_too_large_to_keep():
    memo = ByteMemo(10**6, max_items=2, max_item_bytes=ITEM, sizeof=len)
    memo.put(1, "x" * 10)
    memo.put(2, "y" * 10)
    memo.put(3, "z" * 10)
    assert len(memo) == 2 and 1 not in memo
    big = "w" * (ITEM + 1)
    assert memo.put("big", big) is big and memo.get("big") is None and len(memo) == 2
    assert memo.get("missing", "default") == "default"


def test_nbytes_counts_arrays_and_containers_once():
    a = np.zeros(1000)
    assert nbytes(a) >= 8000 and nbytes([a, a]) < 2 * 8000  # the same array counted once
    assert nbytes(a[10:]) == nbytes(a)  # a view holds its base


def test_ttl_drops_values_unused_for_that_long():
    now = [0.0]
    memo = ByteMemo(10 * ITEM, ttl=10.0, clock=lambda: now[0], sizeof=_fixed)
    memo.put("old", 1)
    memo.put("used", 2)
    now[0] = 8.0
    assert memo.get("used") == 2  # a use renews it
    now[0] = 12.0
    assert memo.expire() == 1 and "old" not in memo and memo.total == ITEM
    now[0] = 30.0
    assert memo.get("used") is None and memo.total == 0  # expired on read, too
    forever = ByteMemo(10 * ITEM, ttl=0, clock=lambda: now[0], sizeof=_fixed)
    forever.put("a", 1)
    now[0] = 1e9
    assert forever.expire() == 0 and forever.get("a") == 1 and forever._janitor is None  # no ttl: no janitor


def test_ttl_keeps_its_bookkeeping_small_after_evictions():
    now = [0.0]
    memo = ByteMemo(2 * ITEM, ttl=100.0, clock=lambda: now[0], sizeof=_fixed)
    for k in range(50):
        memo.put(k, k)
    assert len(memo) == 2 and len(memo._used) <= 3  # evicted keys leave no trace beyond the next put


@pytest.mark.parametrize("kwargs, name", [(dict(max_bytes=-1), "'max_bytes'"), (dict(max_bytes=1.5), "'max_bytes'"),
                                          (dict(max_bytes=10, max_items=0), "'max_items'"),
                                          (dict(max_bytes=10, ttl=-1.0), "'ttl'"),
                                          (dict(max_bytes=10, ttl=float("nan")), "'ttl'")])
def test_bad_bounds_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ByteMemo(**kwargs)


def test_threads_share_the_memo_without_losing_count():
    """Eight threads putting and reading 40 keys at once: the bytes counted equal the values kept, within the
    bound, and every value read is the one put under its key."""
    memo = ByteMemo(20 * ITEM, ttl=1000.0, sizeof=_fixed)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            k = int(rng.integers(40))
            if rng.random() < 0.5:
                memo.put(k, ("v", k))
            else:
                v = memo.get(k)
                if v is not None and v != ("v", k):
                    errors.append((k, v))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert memo.total == ITEM * len(memo) <= 20 * ITEM


def test_key_lock_lets_one_thread_compute():
    memo = ByteMemo(10**6)
    calls = []
    barrier = threading.Barrier(6)

    def session():
        barrier.wait()
        with memo.lock("k"):
            if memo.get("k") is None:
                calls.append(1)
                memo.put("k", np.ones(3))

    threads = [threading.Thread(target=session) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and memo.lock("a") is memo.lock("a") and memo.lock("a") is not memo.lock("b")


def test_array_memo_is_the_solvers_form():
    memo = ArrayMemo(max_items=4, max_bytes=10_000)
    calls = []

    def compute():
        calls.append(1)
        return np.arange(10.0), np.ones(5)

    first = memo.get("kind", (1,), compute)
    again = memo.get("kind", (1,), compute)
    assert again is first and len(calls) == 1 and memo.hits["kind"] == 1 and memo.misses["kind"] == 1
    assert not first[0].flags.writeable and memo.total == 15 * 8  # the arrays' bytes
    memo.get("other", (1,), compute)  # another kind, same key: its own entry
    assert len(calls) == 2 and len(memo) == 2
    memo.enabled = False
    memo.get("kind", (1,), compute)
    assert len(calls) == 3
    assert isinstance(_linalg.MEMO, ByteMemo) and _linalg._Memo is ArrayMemo  # the library's memos are this class
