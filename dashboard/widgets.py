"""Widgets shared by the pages: the sidebar, settings in session state / URL, cached look-ups with progress.

Session-state keys are namespaced: ``cfg.*`` shared settings (sidebar), ``reg.*`` Regimes, ``feat.*`` Feature
learning, ``net.*`` Networks, ``ws.*`` Width scaling, ``data.*`` Data. No maths here: everything is computed by
``mastcore`` through dashboard/compute.py.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import streamlit as st

import mastcore as mc

from . import compute
from .state import ANSATZE, BINARY_CHOICES, DEFAULT_PRESET, DIGIT_TASKS, N_CHI, N_CHI_SLOW, PRESETS, Settings, chi_grid

CUSTOM = "Custom"
#: Ranges of the sidebar's number inputs. 0 is allowed where the page explains why it is invalid (P* = 0, N = 0).
BOUNDS = {"P": (0, 5000), "P_test": (0, 20000), "D": (0, 5000), "p": (0.0, 0.5), "width": (0, 10000),
          "kappa0": (0.0, 1e6), "g_v": (0.0, 1e6), "g_w": (0.0, 1e6), "seed": (0, 2**31 - 1)}
FIELDS = tuple(Settings.field_types())
ACT_LABELS = {"linear": "linear", "erf": "erf", "relu": "ReLU"}


def k(name: str) -> str:
    """Session-state key of a shared setting (a plain key: it survives page switches and fragment reruns)."""
    return f"cfg.{name}"


def w(name: str) -> str:
    """Key of the sidebar widget that edits ``k(name)`` (copied from ``k(name)`` before each render)."""
    return f"cfg.w.{name}"


# --- state and URL ---------------------------------------------------------------------------------------

def _matching_preset(values: dict) -> str:
    for name, preset in PRESETS.items():
        if all(values.get(f) == v for f, v in preset.items()):
            return name
    return CUSTOM


def init_state() -> None:
    """First run of a session: defaults from the default preset, overridden by the URL's query parameters."""
    if st.session_state.get("cfg._init"):
        return
    values = Settings.from_preset(DEFAULT_PRESET).to_dict()
    query = st.query_params.to_dict()
    from_url, bad = Settings.parse_query(query)
    for name, v in from_url.items():
        lo, hi = BOUNDS.get(name, (None, None))
        if lo is not None and not lo <= v <= hi:
            bad.append(f"URL parameter for {name} must be in [{lo}, {hi}]; got {v} (clipped)")
            v = type(v)(min(max(v, lo), hi))
        values[name] = v
    for f in FIELDS:
        st.session_state[k(f)] = values[f]
    st.session_state[k("preset")] = _matching_preset(values)
    chi = None
    if "chi" in query:
        try:
            chi = float(query["chi"])
        except (TypeError, ValueError):
            bad.append(f"URL parameter 'chi' must be a number; got {query['chi']!r} (ignored)")
    st.session_state[k("chi")] = chi
    st.session_state["cfg._bad_query"] = bad
    st.session_state["cfg._init"] = True


def _apply_preset() -> None:
    name = st.session_state[w("preset")]
    st.session_state[k("preset")] = name
    if name in PRESETS:
        for f, v in PRESETS[name].items():
            st.session_state[k(f)] = v
        st.session_state[k("chi")] = None


def _commit(name: str) -> None:
    """on_change of a sidebar widget: store its value under the plain key, update the preset label."""
    st.session_state[k(name)] = st.session_state[w(name)]
    st.session_state[k("preset")] = _matching_preset({f: st.session_state.get(k(f)) for f in FIELDS})


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


def _settings_now() -> Settings:
    return Settings(**{f: st.session_state[k(f)] for f in FIELDS})


def sync_query_params(extra: dict | None = None) -> None:
    """Mirror the settings (and the current χ) in the URL so that a link reproduces the view."""
    params = _settings_now().to_query()
    chi = st.session_state.get(k("chi"))
    if chi is not None:
        params["chi"] = f"{chi:g}"
    params.update(extra or {})
    current = st.query_params.to_dict()
    changed = {kk: v for kk, v in params.items() if current.get(kk) != v}
    if changed:
        st.query_params.update(changed)


def _number(container, label: str, name: str, step, **kw) -> None:
    lo, hi = BOUNDS[name]
    fmt = "%.3f" if isinstance(lo, float) else None
    container.number_input(label, min_value=lo, max_value=hi, step=step, format=fmt, key=w(name),
                           on_change=_commit, args=(name,), **kw)


def sidebar() -> Settings:
    """The shared sidebar (task, P, P*, D, p, N, κ0, g_v, g_w, activation, seed, presets)."""
    init_state()
    task_names = list(mc.available_tasks())
    if "data.csv" in st.session_state:
        task_names.append("csv")
    if st.session_state[k("task")] not in task_names:
        st.session_state["cfg._bad_query"] = st.session_state.get("cfg._bad_query", []) + [
            f"task {st.session_state[k('task')]!r} is not available here (choose one of {task_names}); using 'ising'"
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
    sb.selectbox("Preset", [*PRESETS, CUSTOM], key=w("preset"), on_change=_apply_preset,
                 help="'Paper Fig. 2': Ising, P=80, P*=1000, D=200, N=100. 'Teaching': small and fast.")
    sb.subheader("Task")
    sb.selectbox("task", task_names, key=w("task"), on_change=_commit, args=("task",))
    task_name = st.session_state[k("task")]
    sb.selectbox("labels (digits / MNIST)", list(BINARY_CHOICES), key=w("binary"), on_change=_commit,
                 args=("binary",), disabled=task_name not in DIGIT_TASKS)
    c1, c2 = sb.columns(2)
    _number(c1, "P (train)", "P", 10)
    _number(c2, "P* (test)", "P_test", 100)
    _number(c1, "D (inputs)", "D", 10, disabled=task_name in ("csv", "digits", "mnist"))
    _number(c2, "p (flips)", "p", 0.05, disabled=task_name != "ising",
            help="Ising task: probability that an input spin disagrees with the label")
    sb.subheader("Network")
    c1, c2 = sb.columns(2)
    _number(c1, "N (width)", "width", 10)
    _number(c2, "κ0 (noise)", "kappa0", 0.1)
    _number(c1, "g_v", "g_v", 0.1)
    _number(c2, "g_w", "g_w", 0.1)
    c1.selectbox("activation", list(mc.ACTIVATIONS), key=w("activation"), on_change=_commit, args=("activation",),
                 format_func=lambda a: ACT_LABELS.get(a, a))
    _number(c2, "seed", "seed", 1)
    sb.selectbox("tree-level ansatz (erf/ReLU)", list(ANSATZE), key=w("ansatz"), on_change=_commit,
                 args=("ansatz",),
                 format_func=ANSATZE.get, disabled=st.session_state[k("activation")] == "linear",
                 help="Neuron law of the erf/ReLU tree level (docs/theory.md §9); linear networks are solved exactly.")
    for msg in st.session_state.get("cfg._bad_query", []):
        sb.warning(msg)
    sb.caption("Settings are in the URL: copy it to share this view.")
    settings = _settings_now()
    st.session_state["cfg._via_app"] = True
    sync_query_params()
    return settings


# --- computations with caching and progress --------------------------------------------------------------

#: Above this estimated cost (seconds) a computation waits for a button (unless it is in the disk cache).
AUTO_SECONDS = 5.0


@st.cache_resource
def _memo() -> OrderedDict:
    """Process-wide memo of immutable results (tasks, sweeps): a thin layer over mastcore's disk cache."""
    return OrderedDict()


MEMO_SIZE = 64


def memo_get(key):
    memo = _memo()
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    return None


def memo_put(key, value):
    memo = _memo()
    memo[key] = value
    while len(memo) > MEMO_SIZE:
        memo.popitem(last=False)
    return value


def uploaded_data():
    """(X, y) of the uploaded CSV, or None."""
    d = st.session_state.get("data.csv")
    return None if d is None else (d["X"], d["y"])


def _data_key(data) -> str:
    if data is None:
        return ""
    h = hashlib.sha1(np.ascontiguousarray(data[0]).tobytes())
    h.update(np.ascontiguousarray(data[1]).tobytes())
    return h.hexdigest()


def require_task(settings: Settings):
    """The task of the settings, or ``st.error`` with what to change and ``st.stop()``."""
    data = uploaded_data() if settings.task == "csv" else None
    key = ("task", settings, _data_key(data))
    task = memo_get(key)
    if task is not None:
        return task
    try:
        task = compute.build_task(settings, data)
    except ValueError as exc:
        msg = str(exc)
        if "sidebar" not in msg:
            msg += " Change P, P* or the task in the sidebar."
        st.error(f"**These settings cannot be used.** {msg}", icon=":material/error:")
        st.stop()
    return memo_put(key, task)


def curves(task, settings: Settings, chis, methods, *, label: str, estimate: float):
    """Theory curves from the memo or the disk cache, computed with a progress bar when cheap or requested;
    None while an expensive computation waits for its button."""
    chis = tuple(float(c) for c in chis)
    key = ("curves", settings, _data_key(uploaded_data() if settings.task == "csv" else None), chis, tuple(methods))
    hit = memo_get(key)
    if hit is not None:
        return hit
    request = f"curves.request.{label}.{hash(key)}"
    if estimate > AUTO_SECONDS and not st.session_state.get(request):
        try:  # computed before (this or another session): the disk cache gives it back instantly
            return memo_put(key, compute.theory_curves(task, settings, chis, methods, cache_mode="only"))
        except mc.cache.CacheMiss:
            pass
        if st.button(f"Compute {label} (about {estimate:.0f} s, cached afterwards)", key=f"btn.{label}"):
            st.session_state[request] = True
            st.rerun()
        return None
    bar = st.progress(0.0, text=f"Computing {label} …")

    def cb(done, total, info):
        bar.progress(min(1.0, done / max(total, 1)),
                     text=f"Computing {label}: {info.get('method')} at χ = {info.get('chi', 0):.3g} ({done}/{total})")

    try:
        result = compute.theory_curves(task, settings, chis, methods, progress=cb)
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        bar.empty()
        st.error(f"{label} failed: {exc}", icon=":material/error:")
        return None
    bar.empty()
    return memo_put(key, result)


def theory_grid(settings: Settings):
    """χ values of the theory curves: 25 for linear nets, 9 for erf/ReLU (their tree level is slower)."""
    return chi_grid(settings.width, N_CHI if settings.activation == "linear" else N_CHI_SLOW)


def tree_curves(task, settings: Settings):
    """(grid, NNGP + tree-level curves) shared by the pages; the curves are None while they wait for a button."""
    grid = theory_grid(settings)
    est = compute.estimated_seconds("tree", settings.P, len(grid), settings.activation, settings.ansatz)
    return grid, curves(task, settings, grid, ("nngp", "tree"), label="tree level", estimate=est)


def warning_badges(messages, *, where: str = "") -> None:
    """A visible badge for non-converged / loop-breakdown results, with the messages in an expander."""
    if not messages:
        return
    breakdown = any("LoopBreakdown" in m for m in messages)
    st.badge("loop breakdown" if breakdown else "not converged", icon=":material/warning:", color="orange")
    with st.expander(f"Solver warnings{(' — ' + where) if where else ''} ({len(messages)})"):
        for m in messages:
            st.markdown(f"- {m}")


def chi_slider(grid, key: str, *, label: str = "χ  (log scale: 1 = standard scaling … N = mean field)") -> float:
    """A log-scale χ slider over ``grid`` that shares the current χ across pages and the URL."""
    grid = [float(g) for g in grid]
    cur = st.session_state.get(k("chi"))
    if cur is None:
        cur = float(np.sqrt(grid[-1]))
    if st.session_state.get(key) not in grid:
        st.session_state[key] = grid[int(np.argmin(np.abs(np.log(grid) - np.log(max(cur, 1e-12)))))]

    def _sync():
        st.session_state[k("chi")] = st.session_state[key]

    st.select_slider(label, options=grid, key=key, format_func=lambda v: f"{v:g}", on_change=_sync)
    chi = float(st.session_state[key])
    st.session_state[k("chi")] = chi
    if st.query_params.get("chi") != f"{chi:g}":
        st.query_params["chi"] = f"{chi:g}"
    return chi


def page_header(title: str, settings: Settings) -> None:
    st.title(title)
    st.caption(
        f"task **{settings.task}** · P = {settings.P}, P* = {settings.P_test}, "
        f"{'D from the data' if settings.task in (*DIGIT_TASKS, 'csv') else f'D = {settings.D}'} · "
        f"N = {settings.width}, κ0 = {settings.kappa0:g}, g_v = {settings.g_v:g}, g_w = {settings.g_w:g}, "
        f"{ACT_LABELS.get(settings.activation, settings.activation)}"
    )
