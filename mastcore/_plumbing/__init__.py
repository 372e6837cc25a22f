"""The library's plumbing, kept apart from the science: the resource budget (:mod:`.budget`), the thread policy
(:mod:`.threads`), the disk cache's machinery (:mod:`.cache`; its public face is :mod:`mastcore.cache`), the one
byte-bounded LRU memo (:mod:`.memo`), input validation and the one parser of byte sizes (:mod:`.validation`) and
the one way to warn (:mod:`.warn`). Nothing here is public API; the public names are re-exported by
:mod:`mastcore`. This package imports none of its modules (so importing one costs only that one).
"""
