"""The app's pages, in one list used by app.py and by a page run on its own (see sidebar._ensure_sidebar)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

def _root() -> Path:
    """Folder holding app.py and pages/: the checkout, or the installed package ``mastcore_app`` (the wheel's copy)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "app.py").is_file() and (here / "pages").is_dir():
        return here
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("mastcore_app")
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else here


ROOT = _root()

#: (file in pages/, title, icon); the first page is the default. A page whose file is missing is left out.
PAGE_FILES = (
    ("regimes.py", "Regimes", ":material/tune:"),
    ("feature_learning.py", "Feature learning", ":material/blur_on:"),
    ("networks.py", "Networks", ":material/hub:"),
    ("width_scaling.py", "Width scaling", ":material/show_chart:"),
    ("learning_curves.py", "Learning curves", ":material/trending_down:"),
    ("theory_map.py", "Theory map", ":material/map:"),
    ("data.py", "Data", ":material/dataset:"),
    ("glossary.py", "Glossary", ":material/menu_book:"),
)


def page_files() -> list[tuple[str, str, str]]:
    """The entries of PAGE_FILES whose file exists."""
    return [entry for entry in PAGE_FILES if (ROOT / "pages" / entry[0]).is_file()]


def pages() -> list:
    """st.Page objects with absolute paths, so the list works whichever script Streamlit started from."""
    return [st.Page(ROOT / "pages" / f, title=t, icon=i, default=k == 0) for k, (f, t, i) in enumerate(page_files())]
