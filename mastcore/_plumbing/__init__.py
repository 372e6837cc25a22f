"""The library's plumbing, kept apart from the science: the resource budget (:mod:`.budget`) and the solvers' cost
models with the measured constants of the time model (:mod:`.costs`), the thread policy (:mod:`.threads`), the disk
cache's machinery (:mod:`.cache`; its public face is :mod:`mastcore.cache`), the one byte-bounded LRU memo
(:mod:`.memo`), the one parser of byte sizes in the environment (:mod:`.env`), input validation
(:mod:`.validation`) and the one way to warn (:mod:`.warn`). Nothing here is public API: the public names are
re-exported by :mod:`mastcore`. This package imports none of its modules (importing one costs only that one).
"""
