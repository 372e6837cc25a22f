"""The live method registry's storage: name → :class:`mastcore.methods.Method`, filled by :mod:`mastcore.methods`.

A module of its own, importing nothing, so that the infrastructure that reads the records at call time — the budget
(:mod:`mastcore._budget`) and the thread policy (:mod:`mastcore._threads`) — does so without importing the solvers
(which import that infrastructure). :data:`mastcore.methods.METHODS` is this same dict.
"""
from __future__ import annotations

#: This module cannot change a result: the cache's source hash leaves it out (mastcore.cache, "Keys").
CACHE_NEUTRAL = True

#: name → Method, in registration order (the order of fidelity used by tables and plots).
METHODS: dict = {}
