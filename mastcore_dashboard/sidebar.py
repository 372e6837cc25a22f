"""The shared sidebar (settings, presets, guided tour, Cite) and :func:`current_settings`, which every page calls
first."""
from __future__ import annotations

import streamlit as st

import mastcore as mc

from .header import act_label, cite
from .keys import CUSTOM, FIELDS, k, w
from .prose import SIDEBAR_HELP as HELP
from .state import ANSATZE, BINARY_CHOICES, BOUNDS, DIGIT_TASKS, PRESETS, Settings, md_code
from .tour import guided_tour, tour_banner
from .url_state import apply_preset, commit, init_state, settings_now, sync_query_params

__all__ = ["HELP", "current_settings", "sidebar"]


def _ensure_sidebar() -> None:
    """Draw the sidebar when Streamlit ran a page file without app.py.

    A folder named ``pages/`` (where the user keeps the pages) makes Streamlit start in its legacy multipage mode
    until ``st.navigation`` has run once in the process: a deep link (``/networks``) on a fresh server then
    executes the page file on its own, and so does every AppTest rerun (AppTest resets the mode before each run).
    app.py marks each of its runs; a page run without the mark draws the shared sidebar itself and switches the
    legacy mode off, so the next run goes through app.py again. No rerun: button clicks of this run are kept.

    Why a private attribute: the public way to leave the legacy mode is ``st.navigation``, but calling it inside
    a page that is already running changes the run's page context, and keyed widgets the user changed in that
    run come back at their defaults (measured: the χ slider jumped from 22.1 back to 1 in AppTest). Setting
    ``PagesManager.uses_pages_directory = False`` is exactly what ``st.navigation`` does to the mode, without
    touching the page (streamlit/commands/navigation.py); tests/test_app.py fails if a Streamlit release changes it.
    """
    if st.session_state.pop("cfg._via_app", False):
        return
    from streamlit.runtime.pages_manager import PagesManager  # noqa: PLC0415  (Streamlit internals: see above)

    PagesManager.uses_pages_directory = False
    sidebar()
    st.session_state.pop("cfg._via_app", None)


def current_settings() -> Settings:
    """The shared settings (call first on every page)."""
    _ensure_sidebar()
    return Settings(**{f: st.session_state[k(f)] for f in FIELDS})


def _number(container, label: str, name: str, step, help: str, **kw) -> None:
    lo, hi = BOUNDS[name]
    fmt = "%.3f" if isinstance(lo, float) else None
    container.number_input(label, min_value=lo, max_value=hi, step=step, format=fmt, key=w(name),
                           on_change=commit, args=(name,), help=help, **kw)


def sidebar() -> Settings:
    """The shared sidebar (task, P, P*, D, p, N, κ0, g_v, g_w, activation, seed, ansatz, presets, guided tour)."""
    init_state()
    task_names = list(mc.available_tasks())
    if "data.csv" in st.session_state:
        task_names.append("csv")
    if st.session_state[k("task")] not in task_names:
        st.session_state["cfg._bad_query"] = st.session_state.get("cfg._bad_query", []) + [
            f"task {md_code(st.session_state[k('task')])} is not available here (choose one of "
            f"{', '.join(task_names)}); using ising"
        ]
        st.session_state[k("task")] = "ising"
    if st.session_state[k("activation")] not in mc.ACTIVATIONS:
        st.session_state[k("activation")] = "linear"
    if st.session_state[k("ansatz")] not in ANSATZE:
        st.session_state[k("ansatz")] = Settings.ansatz
    if st.session_state[k("binary")] not in BINARY_CHOICES:
        st.session_state[k("binary")] = Settings.binary
    for name in (*FIELDS, "preset"):
        st.session_state[w(name)] = st.session_state[k(name)]
    sb = st.sidebar
    sb.title("mastcore")
    sb.selectbox("Preset", [*PRESETS, CUSTOM], key=w("preset"), on_change=apply_preset, help=HELP["preset"])
    sb.subheader("Task")
    sb.selectbox("task", task_names, key=w("task"), on_change=commit, args=("task",), help=HELP["task"])
    task_name = st.session_state[k("task")]
    sb.selectbox("labels (digits / MNIST)", list(BINARY_CHOICES), key=w("binary"), on_change=commit,
                 args=("binary",), disabled=task_name not in DIGIT_TASKS, help=HELP["binary"])
    c1, c2 = sb.columns(2)
    _number(c1, "P (train)", "P", 10, HELP["P"])
    _number(c2, "P* (test)", "P_test", 100, HELP["P_test"])
    _number(c1, "D (inputs)", "D", 10, HELP["D"], disabled=task_name in ("csv", "digits", "mnist"))
    _number(c2, "p (flips)", "p", 0.05, HELP["p"], disabled=task_name != "ising")
    sb.subheader("Network")
    c1, c2 = sb.columns(2)
    _number(c1, "N (width)", "width", 10, HELP["width"])
    _number(c2, "κ0 (noise)", "kappa0", 0.1, HELP["kappa0"])
    _number(c1, "g_v", "g_v", 0.1, HELP["g_v"])
    _number(c2, "g_w", "g_w", 0.1, HELP["g_w"])
    c1.selectbox("activation", list(mc.ACTIVATIONS), key=w("activation"), on_change=commit, args=("activation",),
                 format_func=act_label, help=HELP["activation"])
    _number(c2, "seed", "seed", 1, HELP["seed"])
    sb.selectbox("tree-level ansatz (nonlinear φ)", list(ANSATZE), key=w("ansatz"), on_change=commit,
                 args=("ansatz",), format_func=ANSATZE.get,
                 disabled=mc.ACTIVATIONS[st.session_state[k("activation")]].linear, help=HELP["ansatz"])
    bad = st.session_state.get("cfg._bad_query", [])
    if bad:
        sb.warning("**This link holds values the app cannot use** (defaults used instead):\n\n"
                   + "\n".join(f"- {m}" for m in bad), icon=":material/link_off:")
    sb.caption("Settings are in the URL: copy it to share this view. Words: see the **Glossary** page.")
    guided_tour(sb)
    tour_banner()
    settings = settings_now()
    st.session_state["cfg._via_app"] = True
    sync_query_params()
    cite(sb)
    goto = st.session_state.pop("tour.goto", None)
    if goto is not None:
        st.switch_page(goto)
    return settings
