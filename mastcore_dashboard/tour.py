"""The guided tour (for teaching): four steps from kernels to features, each setting the view it explains."""
from __future__ import annotations

import streamlit as st

from .keys import k
from .prose import TOUR
from .state import DEFAULT_PRESET, PRESETS, chi_grid

__all__ = ["TOUR", "guided_tour", "tour_banner"]


def _tour(step: int) -> None:
    """on_click of a tour step: set the view it describes (preset, χ, page)."""
    _, page, frac, _ = TOUR[step]
    for f, val in PRESETS[DEFAULT_PRESET].items():
        st.session_state[k(f)] = val
    st.session_state[k("preset")] = DEFAULT_PRESET
    width = PRESETS[DEFAULT_PRESET]["width"]
    grid = chi_grid(width)
    st.session_state[k("chi")] = float(grid[0] if frac == 0 else grid[-1])
    st.session_state["tour.step"] = step
    st.session_state["tour.goto"] = page


def _end_tour() -> None:
    st.session_state.pop("tour.step", None)


def guided_tour(sb) -> None:
    """The sidebar's tour box (``sb``: the sidebar): one button per step."""
    with sb.expander("Guided tour (for teaching)", expanded="tour.step" in st.session_state):
        st.caption("Four steps from kernels to features; each sets the view for you and explains it above the "
                   "page.")
        for i, (title, _, _, _) in enumerate(TOUR):
            st.button(title, key=f"tour.b{i}", on_click=_tour, args=(i,), width="stretch",
                      help="Sets the Teaching preset, χ and the page of this step")


def tour_banner() -> None:
    """The current tour step's text at the top of the main area (where it can be read beside the chart), with
    the next step and the way out."""
    step = st.session_state.get("tour.step")
    if step is None:
        return
    title, page, _, text = TOUR[step]
    box = st.container(border=True)
    box.info(f"**Guided tour — step {title}** ({len(TOUR)} steps). {text}", icon=":material/school:")
    c1, c2, _ = box.columns([1, 1, 4])
    if step + 1 < len(TOUR):
        c1.button(f"Next: {TOUR[step + 1][0]}", key="tour.next", on_click=_tour, args=(step + 1,))
    c2.button("End the tour", key="tour.end", on_click=_end_tour)
