"""Glossary: every symbol and name of the app in plain words first, then the formula, then where the maths is."""
import re

import streamlit as st

from mastcore_dashboard import prose
from mastcore_dashboard.header import page_header
from mastcore_dashboard.sidebar import current_settings


def _star(text: str) -> str:
    """A lone * (P*, the test set) escaped, so that markdown shows it instead of starting emphasis; ** stays bold."""
    return re.sub(r"(?<!\*)\*(?!\*)", r"\\*", text)


settings = current_settings()
page_header("Glossary", settings, prose.GLOSSARY_INTRO)
query = st.text_input("Filter", key="gl.filter", placeholder="e.g. χ, one loop, overlap",
                      help=prose.GLOSSARY_FILTER_HELP)
needle = query.strip().lower()
shown = 0
for term, plain, formula, section in prose.GLOSSARY_TERMS:
    if needle and needle not in (term + plain + formula).lower():
        continue
    shown += 1
    with st.container(border=True):
        st.markdown(f"**{_star(term)}** — {_star(plain)}")
        st.markdown(f"Formula: `{formula}` · maths: docs/theory.md {section}")
if not shown:
    st.caption("No entry matches the filter.")
