"""The live method registry's storage: name → :class:`mastcore.methods.Method`, filled by :mod:`mastcore.methods`.

A module of its own, importing nothing, so that the infrastructure that reads the records at call time — the budget
(:mod:`mastcore._plumbing.budget`) and the thread policy (:mod:`mastcore._plumbing.threads`) — does so without importing the solvers
(which import that infrastructure). :data:`mastcore.methods.METHODS` is this same dict.
"""
from __future__ import annotations

from collections.abc import Mapping

#: This module cannot change a result: the cache's source hash leaves it out (mastcore.cache, "Keys").
CACHE_NEUTRAL = True

#: name → Method, in registration order (the order of fidelity used by tables and plots).
METHODS: dict = {}


class LiveView(Mapping):
    """A read-only mapping computed anew from the registries each time it is read, so that registered methods and
    activations appear in it: ``LiveView(lambda: {...})``. The one way the library derives a table from a registry."""

    def __init__(self, items):
        self._items = items

    def __getitem__(self, key):
        return self._items()[key]

    def __iter__(self):
        return iter(self._items())

    def __len__(self):
        return len(self._items())

    def __repr__(self) -> str:
        return repr(self._items())
