"""One way to warn: every warning of the library points at the user's line that called into mastcore (the first
frame outside the package and the tools it calls through), not at an internal line such as the solver decorator."""
from __future__ import annotations

import os
import sys
import warnings

#: Only where a warning points changes: cached results do not depend on this module (mastcore/_plumbing/cache.py).
CACHE_NEUTRAL = True

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # mastcore/, not _plumbing/
#: Frames skipped besides the package's own: the standard library's context managers, joblib (the disk cache calls
#: the solver through it) and the generated __init__ of the package's dataclasses (checked in __post_init__).
_SKIP = ("contextlib.py", f"{os.sep}joblib{os.sep}")


def _internal(code) -> bool:
    if code.co_filename == "<string>" and code.co_name == "__init__":  # a dataclass's generated __init__
        return True
    path = os.path.abspath(code.co_filename)
    return path.startswith(_PACKAGE) or path.endswith(_SKIP[0]) or _SKIP[1] in path


def warn(message, category: type[Warning]) -> None:
    """``warnings.warn(message, category)`` attributed to the first calling frame outside mastcore."""
    frame, level = sys._getframe(1), 2  # stacklevel 2: the caller of this function
    while frame is not None and _internal(frame.f_code):
        frame, level = frame.f_back, level + 1
    if frame is None:  # no frame outside the library (e.g. a worker thread): the innermost caller
        level = 2
    warnings.warn(message, category, stacklevel=level)
