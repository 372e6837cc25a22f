"""Errors and solver warnings shown in words (never a traceback; user text never as markdown)."""
from __future__ import annotations

import streamlit as st

from .state import md_code
from .words import md_text

__all__ = ["ADVISORY_SHOWN", "show_error", "warning_badges"]


def show_error(headline: str, exc: BaseException | str, *, cli: str | None = None) -> None:
    """``st.error`` with our headline and the message as a code span (it may hold user text: never markdown)."""
    text = str(exc) if not isinstance(exc, BaseException) else (str(exc) or type(exc).__name__)
    st.error(f"**{headline}** {md_code(text, limit=600)}", icon=":material/error:")
    if cli:
        st.caption("Run it from the command line instead:")
        st.code(cli, language="bash")


#: Advisory solver notes shown as captions (more go into an expander).
ADVISORY_SHOWN = 2


def _plain(message: str) -> str:
    """A solver message for people: the warning class's name dropped, markdown characters escaped."""
    for prefix in ("ConvergenceWarning: ", "LoopBreakdownWarning: "):
        message = message.replace(prefix, "")
    text = message if len(message) <= 400 else message[:400] + "…"
    return md_text(text[:1].upper() + text[1:])


def warning_badges(messages, *, where: str = "") -> None:
    """A visible badge for non-converged / loop-breakdown results, with the messages in words: in an expander, or
    as captions when they are a few advisory notes (e.g. the one loop's width below 2P)."""
    if not messages:
        return
    if any("not converged" in m or "ConvergenceWarning" in m for m in messages):
        st.badge("not converged", icon=":material/warning:", color="orange")
    elif any("LoopBreakdown" in m for m in messages):
        st.badge("loop breakdown", icon=":material/warning:", color="orange")
    else:  # advisory notes only: short enough to be read where they are
        for m in messages[:ADVISORY_SHOWN]:
            st.caption(f":material/info: **Note{(' on the ' + where) if where else ''}:** {_plain(m)}")
        if len(messages) <= ADVISORY_SHOWN:
            return
    with st.expander(f"Solver warnings{(' — ' + where) if where else ''} ({len(messages)})"):
        for m in messages:
            st.markdown(f"- {_plain(m)}")
