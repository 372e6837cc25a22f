"""The page's header (title, first sentence, the settings in one line) and the Cite expander."""
from __future__ import annotations

import streamlit as st

import mastcore as mc

from . import export
from .state import DIGIT_TASKS, Settings

__all__ = ["act_label", "cite", "page_header"]


def act_label(name: str) -> str:
    """The activation's label for people (from its registry record)."""
    return mc.ACTIVATIONS[name].label if name in mc.ACTIVATIONS else name


def page_header(title: str, settings: Settings, intro: str | None = None) -> None:
    """The page's title, its plain first sentence and the current settings in one line."""
    st.title(title)
    if intro:
        st.markdown(intro)
    st.caption(
        f"task **{settings.task}** · P = {settings.P}, P* = {settings.P_test}, "
        f"{'D from the data' if settings.task in (*DIGIT_TASKS, 'csv') else f'D = {settings.D}'} · "
        f"N = {settings.width}, κ0 = {settings.kappa0:g}, g_v = {settings.g_v:g}, g_w = {settings.g_w:g}, "
        f"{act_label(settings.activation)}"
    )


def cite(container=None) -> None:
    """The "Cite" expander: BibTeX of the paper and of this software, and the link of the current view."""
    where = st.sidebar if container is None else container
    try:
        base = st.context.url or ""
    except Exception:  # noqa: BLE001  (no browser session, e.g. in tests)
        base = ""
    params = {name: st.query_params.get_all(name) for name in st.query_params}
    link = export.view_link(base, params) if base else None
    # drawn only while open: its code block made every new session's browser load and compile the syntax
    # highlighter (1.5 MB of script, seen in the page's resource list) before the first chart
    with where.expander("Cite", icon=":material/format_quote:", key="cite.open", on_change="rerun") as box:
        if not box.open:
            return
        st.markdown("If these results help your work, please cite the paper and the software (version "
                    f"{mc.__version__}); the link reproduces this view.")
        st.code(export.cite_text(mc.__version__, link), language="bibtex")
        if link:
            st.markdown(f"[Link of this view]({link})")
