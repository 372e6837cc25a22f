"""The app's pages, in one list used by app.py and by a page run on its own (see widgets._ensure_sidebar)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent

#: (file in pages/, title, icon); the first page is the default.
PAGE_FILES = (
    ("regimes.py", "Regimes", ":material/tune:"),
    ("feature_learning.py", "Feature learning", ":material/blur_on:"),
    ("networks.py", "Networks", ":material/hub:"),
    ("width_scaling.py", "Width scaling", ":material/show_chart:"),
    ("data.py", "Data", ":material/dataset:"),
)


def pages() -> list:
    """st.Page objects with absolute paths, so the list works whichever script Streamlit started from."""
    return [st.Page(ROOT / "pages" / f, title=t, icon=i, default=k == 0) for k, (f, t, i) in enumerate(PAGE_FILES)]
