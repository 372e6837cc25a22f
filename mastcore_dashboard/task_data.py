"""The page's task: the uploaded CSV of this session (parsed once), its digest, and the task of the settings (or
``st.error`` with what to change)."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

import mastcore as mc

from . import compute
from .notices import show_error
from .runs import memo_get, memo_put
from .state import MAX_UPLOAD_COLUMNS, Settings, chi_grid

__all__ = ["data_digest", "label_warning", "read_upload", "require_task", "uploaded_data"]


def read_upload(content: bytes):
    """``mc.load_csv`` of an uploaded file's bytes, parsed once per upload: the result (X, y, names) — or the
    ValueError it raised — is kept in this session under the SHA-1 of the bytes, so reruns of the page (every
    widget change) reuse it instead of parsing the file again. At most MAX_UPLOAD_COLUMNS columns are read."""
    digest = hashlib.sha1(content).hexdigest()
    kept = st.session_state.get("data.parsed")
    if kept is None or kept[0] != digest:
        try:
            kept = (digest, mc.load_csv(content, max_columns=MAX_UPLOAD_COLUMNS), None)
        except (ValueError, MemoryError) as exc:
            kept = (digest, None, exc)
        st.session_state["data.parsed"] = kept
    if kept[2] is not None:
        raise kept[2]
    return kept[1]


def label_warning(y) -> str | None:
    """Why labels that are not ±1 class labels deserve a look ({0, 1}, several classes), or None (library text: numbers
    and fixed words only, safe as markdown)."""
    from mastcore._plumbing.validation import check_labels  # noqa: PLC0415

    text = check_labels(y)
    return None if text is None else text.replace("'y'", "The label column")


def uploaded_data():
    """(X, y) of the uploaded CSV, or None."""
    d = st.session_state.get("data.csv")
    return None if d is None else (d["X"], d["y"])


def data_digest(data) -> str:
    """A content hash of an uploaded data set (X, y), or '' for None."""
    if data is None:
        return ""
    h = hashlib.sha1(np.ascontiguousarray(data[0]).tobytes())
    h.update(np.ascontiguousarray(data[1]).tobytes())
    return h.hexdigest()


def require_task(settings: Settings):
    """The task of the settings, or ``st.error`` with what to change and ``st.stop()``."""
    data = uploaded_data() if settings.task == "csv" else None
    key = ("task", settings, data_digest(data))
    task = memo_get(key)
    if task is not None:
        return task
    n_rows = None if data is None else int(np.asarray(data[0]).shape[0])
    problems = settings.problems(n_rows if settings.task == "csv" else None)
    if problems:  # our own messages (user text inside is already a code span)
        msg = " ".join(problems)
        if "sidebar" not in msg:
            msg += " Change P, P* or the task in the sidebar."
        st.error(f"**These settings cannot be used.** {msg}", icon=":material/error:")
        st.stop()
    too_big = compute.task_problem(settings)
    if too_big:
        st.error(f"**This data set is too large for the app.** {too_big}:",
                 icon=":material/error:")
        st.code(compute.cli_command(settings, chi_grid(max(settings.width, 1), 7), ("nngp", "tree")), language="bash")
        st.stop()
    try:
        task = compute.build_task(settings, data)
    except (ValueError, MemoryError, OSError) as exc:
        show_error("These settings cannot be used (change them in the sidebar):", exc)
        st.stop()
    return memo_put(key, task)
