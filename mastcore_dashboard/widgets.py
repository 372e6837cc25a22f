"""Widgets shared by the pages: the sidebar, settings and view in session state / URL, the live χ chart,
cached look-ups, and long computations with progress, a Cancel and the app's budget.

Session-state keys are namespaced: ``cfg.*`` shared settings (sidebar), ``view.*`` the pages' own controls that
belong in the URL (mastcore_dashboard.state.VIEW_PARAMS), ``reg.*`` Regimes, ``feat.*`` Feature learning, ``net.*``
Networks, ``ws.*`` Width scaling, ``lc.*`` Learning curves, ``data.*`` Data, ``run.*`` computations,
``tour.*`` the guided tour. No maths here: everything is computed by ``mastcore`` through mastcore_dashboard/compute.py.
"""
from __future__ import annotations

import functools
import hashlib
import os

import numpy as np
import streamlit as st

import mastcore as mc

from . import compute, export, server
from .memo import ByteMemo, freeze_imports
from .state import (ANSATZE, BINARY_CHOICES, BOUNDS, DEFAULT_PRESET, DIGIT_TASKS, MAX_UPLOAD_COLUMNS, N_CHI,
                    N_CHI_SLOW, PRESETS,
                    VIEW_PARAMS, Settings, chi_grid, md_code, parse_query)
from .words import md_text
from .worker import Call, Job

__all__ = [
    "AUTO_SECONDS", "POLL_SECONDS", "app_max_seconds", "cached_curves", "chart", "chi_slider", "cite",
    "current_settings", "curves", "curves_key", "data_digest", "end_job", "fmt_seconds", "job_controls", "job_state",
    "k", "live_chart", "memo_get", "memo_put", "memo_run", "page_header", "poll_job", "require_task",
    "run_cancellable", "show_error", "sidebar", "start_job", "sync_query_params", "take_cancelled", "theory_grid",
    "tree_curves", "v", "view_widget", "warning_badges",
]

CUSTOM = "Custom"
FIELDS = tuple(Settings.field_types())


def act_label(name: str) -> str:
    """The activation's label for people (from its registry record)."""
    return mc.ACTIVATIONS[name].label if name in mc.ACTIVATIONS else name



def k(name: str) -> str:
    """Session-state key of a shared setting (a plain key: it survives page switches and fragment reruns)."""
    return f"cfg.{name}"


def w(name: str) -> str:
    """Key of the sidebar widget that edits ``k(name)`` (copied from ``k(name)`` before each render)."""
    return f"cfg.w.{name}"


def v(name: str) -> str:
    """Session-state key of a page control that is part of the URL (mastcore_dashboard.state.VIEW_PARAMS)."""
    return f"view.{name}"


# --- state and URL ---------------------------------------------------------------------------------------

def _matching_preset(values: dict) -> str:
    for name, preset in PRESETS.items():
        if all(values.get(f) == val for f, val in preset.items()):
            return name
    return CUSTOM


def init_state() -> None:
    """First run of a session: defaults from the default preset, overridden by the URL's query parameters.

    The URL is parsed defensively (mastcore_dashboard.state.parse_query): bad values give the default and one message
    each, shown in the sidebar; nothing a link holds can raise.
    """
    if st.session_state.get("cfg._init"):
        return
    values = Settings.from_preset(DEFAULT_PRESET).to_dict()
    query = {name: st.query_params.get_all(name) for name in st.query_params}
    from_url, view, chi, bad = parse_query(query, tuple(mc.available_tasks()))
    values.update(from_url)
    for f in FIELDS:
        st.session_state[k(f)] = values[f]
    st.session_state[k("preset")] = _matching_preset(values)
    for name, param in VIEW_PARAMS.items():
        st.session_state[v(name)] = view.get(name, param.default)
    st.session_state[k("chi")] = chi
    st.session_state["cfg._bad_query"] = bad
    st.session_state["cfg._init"] = True


def _apply_preset() -> None:
    name = st.session_state[w("preset")]
    st.session_state[k("preset")] = name
    if name in PRESETS:
        for f, val in PRESETS[name].items():
            st.session_state[k(f)] = val
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
    """Mirror the settings, the current χ and the pages' own controls in the URL: a link reproduces the view.

    View parameters (mastcore_dashboard.state.VIEW_PARAMS) are written when they differ from their defaults and removed
    when they return to them, so that links stay short.
    """
    params = _settings_now().to_query()
    chi = st.session_state.get(k("chi"))
    if chi is not None:
        params["chi"] = f"{chi:g}"
    drop = []
    for name, param in VIEW_PARAMS.items():
        val = st.session_state.get(v(name), param.default)
        if val is None or val == param.default:
            drop.append(name)
        else:
            params[name] = param.to_url(val)
    params.update(extra or {})
    current = st.query_params.to_dict()
    changed = {kk: val for kk, val in params.items() if current.get(kk) != val}
    if changed:
        st.query_params.update(changed)
    for name in drop:
        if name in current:
            del st.query_params[name]


def view_widget(widget, label: str, name: str, *, key: str, container=None, **kw):
    """Draw ``widget`` (st.radio, st.number_input, ...) bound to the view value ``v(name)``: its value is kept
    across pages and in the URL. Returns the widget's value."""
    st.session_state[key] = st.session_state.get(v(name), VIEW_PARAMS[name].default)

    def _store():
        st.session_state[v(name)] = st.session_state[key]

    value = getattr(container or st, widget)(label, key=key, on_change=_store, **kw)
    _sync_view(name)  # in this run: a fragment's rerun does not reach the sidebar's sync_query_params
    return value


def _sync_view(name: str) -> None:
    """Write the view value ``v(name)`` into the URL (removed while it is the default), as sync_query_params does."""
    param = VIEW_PARAMS[name]
    val = st.session_state.get(v(name), param.default)
    if val is None or val == param.default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != param.to_url(val):
        st.query_params[name] = param.to_url(val)


def _number(container, label: str, name: str, step, help: str, **kw) -> None:
    lo, hi = BOUNDS[name]
    fmt = "%.3f" if isinstance(lo, float) else None
    container.number_input(label, min_value=lo, max_value=hi, step=step, format=fmt, key=w(name),
                           on_change=_commit, args=(name,), help=help, **kw)


#: Tooltips of the sidebar controls: what each symbol means, in plain words (the Glossary page says more).
HELP = {
    "preset": "Ready-made settings. 'Teaching': small and fast (Ising, P = 20, N = 50). 'Paper Fig. 2': the "
              "paper's setting (Ising, P = 80, P* = 1000, D = 200, N = 100).",
    "task": "The data the network learns. ising: ±1 labels copied into noisy ±1 inputs; teacher_student: labels "
            "from a random linear (or erf) teacher; digits: handwritten 8×8 digits; csv: your upload.",
    "binary": "Which two classes the digit images are split into (digits and MNIST tasks only).",
    "P": "P: number of training examples the network sees.",
    "P_test": "P*: number of test examples, used only to measure how well the network generalises.",
    "D": "D: number of inputs per example (fixed by the data for digits and CSV).",
    "p": "p: chance that an input spin disagrees with the label (Ising task); 0 = clean, 0.5 = pure noise.",
    "width": "N: number of hidden neurons. Large N is where the theories become exact.",
    "kappa0": "κ0: noise in the labels assumed by the network (output noise variance is κ0/χ). Larger κ0 fits "
              "the training data less tightly.",
    "g_v": "g_v: prior variance scale of the input weights (each weight has variance g_v/D).",
    "g_w": "g_w: prior variance scale of the readout weights (variance g_w/(χN)).",
    "activation": "φ: the hidden neurons' nonlinearity. Linear networks have an exact reference and a one loop; "
                  "erf and ReLU are compared with trained networks.",
    "seed": "Random seed of the data set: the same seed always gives the same data.",
    "ansatz": "How the erf/ReLU tree level models one neuron's weights (docs/theory.md §9): a zero-mean Gaussian "
              "(fast) or a Gaussian with a mean (slower). Linear networks are solved exactly.",
}

#: The guided tour: (title, page file, χ as a share of N on a log scale (0 = χ of 1, 1 = χ of N), text). Each text
#: says what the step's view shows (the Teaching preset, linear network) — the step has already set χ.
TOUR = (
    ("1 · The kernel regime", "pages/regimes.py", 0.0,
     "**χ = 1, standard scaling** (the slider is at its left end). The network is close to a fixed kernel "
     "machine, the **NNGP** (grey dashed line, flat in χ). The cards above the chart are not all equal: the "
     "**exact posterior** (black dash-dot) sits just above the NNGP, and the **one loop** and **renormalised one "
     "loop** agree with it to a few parts in 10⁴, while the **tree level** lies below — at χ = 1 it misses the "
     "finite-width effects that the one loop captures."),
    ("2 · Slide χ", "pages/regimes.py", 1.0,
     "**χ = N, mean-field scaling** (the slider is now at its right end). Every curve except the flat NNGP has "
     "fallen: the network learns features, and the part of the labels it misses, mean(y·Δ), is about half the "
     "NNGP's. Here the tree level, the one loops and the exact posterior nearly coincide (each keeps its own line "
     "style and markers). Drag the slider under the chart back towards χ = 1 to watch them rise."),
    ("3 · The kernel adapts", "pages/feature_learning.py", 1.0,
     "**χ = N.** The cards show a neuron's weight covariance Σ_v with one large **outlier** eigenvalue (many "
     "times its prior value g_v/D), whose direction has a large **overlap** with the task direction: the kernel "
     "has stretched along the task. The left heatmap is the NNGP kernel, the right one the adapted kernel."),
    ("4 · Finite width matters", "pages/width_scaling.py", 0.0,
     "Each theory's distance from the **exact posterior** as the width N grows (log–log axes; the widths bracket "
     "P). Left, **χ = 1**: the tree level is further off than even the NNGP, and the one loop's error falls "
     "fastest, roughly like 1/N². Right, **χ = N**: the NNGP stays far off, the tree level's error halves with "
     "each doubling of N (1/N), and the one loop is closer still. Grey lines show the slopes 1/N and 1/N²."),
)


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


def _guided_tour(sb) -> None:
    with sb.expander("Guided tour (for teaching)", expanded="tour.step" in st.session_state):
        st.caption("Four steps from kernels to features; each sets the view for you and explains it above the "
                   "page.")
        for i, (title, _, _, _) in enumerate(TOUR):
            st.button(title, key=f"tour.b{i}", on_click=_tour, args=(i,), width="stretch",
                      help="Sets the Teaching preset, χ and the page of this step")


def _tour_banner() -> None:
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
    sb.selectbox("Preset", [*PRESETS, CUSTOM], key=w("preset"), on_change=_apply_preset, help=HELP["preset"])
    sb.subheader("Task")
    sb.selectbox("task", task_names, key=w("task"), on_change=_commit, args=("task",), help=HELP["task"])
    task_name = st.session_state[k("task")]
    sb.selectbox("labels (digits / MNIST)", list(BINARY_CHOICES), key=w("binary"), on_change=_commit,
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
    c1.selectbox("activation", list(mc.ACTIVATIONS), key=w("activation"), on_change=_commit, args=("activation",),
                 format_func=act_label, help=HELP["activation"])
    _number(c2, "seed", "seed", 1, HELP["seed"])
    sb.selectbox("tree-level ansatz (nonlinear φ)", list(ANSATZE), key=w("ansatz"), on_change=_commit,
                 args=("ansatz",), format_func=ANSATZE.get,
                 disabled=mc.ACTIVATIONS[st.session_state[k("activation")]].linear, help=HELP["ansatz"])
    bad = st.session_state.get("cfg._bad_query", [])
    if bad:
        sb.warning("**This link holds values the app cannot use** (defaults used instead):\n\n"
                   + "\n".join(f"- {m}" for m in bad), icon=":material/link_off:")
    sb.caption("Settings are in the URL: copy it to share this view. Words: see the **Glossary** page.")
    _guided_tour(sb)
    _tour_banner()
    settings = _settings_now()
    st.session_state["cfg._via_app"] = True
    sync_query_params()
    cite(sb)
    goto = st.session_state.pop("tour.goto", None)
    if goto is not None:
        st.switch_page(goto)
    return settings


# --- the memo, tasks and errors --------------------------------------------------------------------------

#: Above this estimated cost (seconds) a computation waits for a button and runs in a worker process with a
#: Cancel button (unless it is in the memo or the disk cache).
AUTO_SECONDS = 2.0
#: Work run at once (below AUTO_SECONDS) gets a Cancel button when it is expected to take longer than this.
INLINE_CANCEL_SECONDS = 0.5
#: Default of $MASTCORE_APP_MAX_SECONDS: longer computations are refused with the command line that runs them.
DEFAULT_APP_MAX_SECONDS = 120.0


def app_max_seconds() -> float:
    """The app's time budget per computation: ``$MASTCORE_APP_MAX_SECONDS`` (seconds) or 120."""
    raw = os.environ.get("MASTCORE_APP_MAX_SECONDS", "").strip()
    try:
        val = float(raw) if raw else DEFAULT_APP_MAX_SECONDS
    except ValueError:
        val = DEFAULT_APP_MAX_SECONDS
    return val if np.isfinite(val) and val > 0 else DEFAULT_APP_MAX_SECONDS


#: At most this long (seconds) a session waits for another one computing the same result before computing it too.
SHARED_WAIT_SECONDS = 10.0


@st.cache_resource
def _memo() -> ByteMemo:
    """Process-wide memo of immutable results (tasks, sweeps, figures), bounded in bytes and time
    (mastcore_dashboard/memo.py). Created once per process, after the imports: these are frozen for the collector first."""
    freeze_imports()
    server.install()  # the janitor also drops the sessions of closed tabs once their reconnect time is over
    return ByteMemo()


def memo_get(key):
    return _memo().get(key)


def memo_put(key, value):
    return _memo().put(key, value)


def memo_run(key, label: str, fn, *, estimate_seconds, prefix: str, keep=None, **run_options):
    """The one path from a page to a computation: the process memo, else :func:`run_cancellable` (disk-cache
    ``lookup``, budget, button, progress, Cancel), and the result into the memo.

    ``key`` is the memo key (settings, data digest, ...); ``prefix`` names the run's widgets
    (``run.<prefix>.<digest(key)>...``); ``estimate_seconds`` is a number or a function called only on a memo
    miss; ``keep(result)`` says whether a result may be memoised (default: every result; e.g. not an
    incomplete theory map). Other options go to :func:`run_cancellable`. Returns the result or None (waiting for
    a button, refused, cancelled or failed)."""
    hit = memo_get(key)
    if hit is not None:
        return hit
    # one session computes, the others asking for the same key meanwhile wait for its result (a class changing
    # the same setting together); bounded wait: a long run elsewhere does not freeze this page
    lock = _memo().lock(key)
    locked = lock.acquire(timeout=SHARED_WAIT_SECONDS)
    try:
        hit = memo_get(key)
        if hit is not None:
            return hit
        est = estimate_seconds() if callable(estimate_seconds) else estimate_seconds
        result = run_cancellable(label, fn, estimate_seconds=est, key=f"{prefix}.{digest(key)}", **run_options)
        if result is not None and (keep is None or keep(result)):
            memo_put(key, result)
        return result
    finally:
        if locked:
            lock.release()


def digest(key) -> str:
    """A short stable hash of a memo key (for widget and request keys)."""
    return hashlib.sha1(repr(key).encode()).hexdigest()[:12]


def show_error(headline: str, exc: BaseException | str, *, cli: str | None = None) -> None:
    """``st.error`` with our headline and the message as a code span (it may hold user text: never markdown)."""
    text = str(exc) if not isinstance(exc, BaseException) else (str(exc) or type(exc).__name__)
    st.error(f"**{headline}** {md_code(text, limit=600)}", icon=":material/error:")
    if cli:
        st.caption("Run it from the command line instead:")
        st.code(cli, language="bash")


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


# --- long computations: estimate, budget, progress, Cancel -----------------------------------------------

def fmt_seconds(s: float) -> str:
    """Seconds for people, as the library writes them in its estimates and refusals (mastcore._plumbing.budget)."""
    return mc.format_seconds(s)


def _request(key: str) -> None:
    st.session_state[f"run.{key}.request"] = True
    st.session_state.pop(f"run.{key}.cancelled", None)


def _cancel(key: str) -> None:
    st.session_state.pop(f"run.{key}.request", None)
    st.session_state[f"run.{key}.cancelled"] = True


def _progress_text(label: str, done: int, total: int, info: dict, elapsed: float, estimate: float) -> str:
    what = ", ".join(f"{kk} = {val:.3g}" if isinstance(val, float) else f"{kk} = {val}"
                     for kk, val in (info or {}).items() if kk in ("method", "chi", "P", "width"))
    left = ""
    if total and done:
        left = f" · about {fmt_seconds(max(0.0, elapsed / done * (total - done)))} left"
    elif np.isfinite(estimate):
        left = f" · about {fmt_seconds(max(0.0, estimate - elapsed))} left"
    return f"{label}: {done}/{total or '?'} {('(' + what + ')') if what else ''} · {elapsed:.0f} s{left}"


def run_cancellable(label: str, fn, *, estimate_seconds: float, key: str, cli: str | None = None,
                    lookup=None, auto_seconds: float | None = None, container=None, confirmed: bool = False,
                    remedy: str = "Lower P, D or the number of χ values"):
    """Run a computation that may take long, within the app's budget, with progress and a working Cancel.

    Parameters
    ----------
    label : what is computed, for people ("one loop", "exact posterior at χ = 5").
    fn : ``fn(progress) -> result`` where ``progress(done, total, info)`` is the library's progress signature.
        It must be picklable when it may run in a worker process: a module-level function, or
        ``mastcore_dashboard.worker.Call(func, *args, **kwargs)``, which calls ``func(*args, progress=progress, **kwargs)``.
    estimate_seconds : the expected time (mastcore_dashboard.compute.estimate_seconds: mc.estimate, calibrated here).
    key : identifies this computation (include a digest of its inputs): the button, the request and the Cancel
        are keyed by it, so a changed input asks again.
    cli : the command line (e.g. ``python -m mastcore sweep ...``) shown when the work is refused.
    lookup : optional ``lookup() -> result or None`` tried first for work that would not run at once (e.g. the disk
        cache with ``cache="only"``; mastcore.cache.CacheMiss counts as None).
    auto_seconds : above this estimate the work waits for a button (default AUTO_SECONDS, about 2 s).
    container : where to draw (default: the main area).
    confirmed : the caller's own button asked for it (e.g. a form's Run): no second button.
    remedy : what to change when the work is refused (text, or a function that returns it: called only then).

    What happens
    ------------
    - estimate above ``$MASTCORE_APP_MAX_SECONDS`` (default 120 s): refused, with the estimate and ``cli``;
    - estimate above ``auto_seconds`` and not requested yet: a "Compute <label> (about N s)" button;
    - otherwise it runs: short work in this process with a progress bar; requested (long) work in a worker
      process (mastcore_dashboard/worker.py) with a progress bar, the time left and a **Cancel** button that kills the
      worker at once (also when the user leaves the page or changes a setting, since Streamlit then stops
      this script run and the worker is killed on the way out).
    Errors (mc.ResourceError, ValueError, a worker killed for memory, ...) are shown with ``st.error`` — the
    message as plain text, never a traceback — and give None.

    Returns
    -------
    The result, or None (waiting for the button, refused, cancelled or failed).
    """
    box = container or st
    auto = AUTO_SECONDS if auto_seconds is None else auto_seconds
    if lookup is not None and estimate_seconds > auto:  # short work runs at once (and reads the cache itself)
        try:
            hit = lookup()
        except mc.cache.CacheMiss:
            hit = None
        if hit is not None:
            return hit
    limit = app_max_seconds()
    if estimate_seconds > limit:
        box.warning(f"**{label}** would take about {fmt_seconds(estimate_seconds)} on this machine (mc.estimate), "
                    f"more than this app runs ({fmt_seconds(limit)}; MASTCORE_APP_MAX_SECONDS). "
                    f"{remedy() if callable(remedy) else remedy}"
                    + (", or run it from the command line:" if cli else "."), icon=":material/hourglass_disabled:")
        if cli:
            box.code(cli, language="bash")
        return None
    request, cancelled = f"run.{key}.request", f"run.{key}.cancelled"
    if confirmed:
        st.session_state[request] = True
        st.session_state.pop(cancelled, None)
    if (estimate_seconds > auto or st.session_state.get(cancelled)) and not st.session_state.get(request):
        if st.session_state.get(cancelled):
            box.info(f"{label}: cancelled.", icon=":material/cancel:")
        box.button(f"Compute {label} (about {fmt_seconds(estimate_seconds)}, cached afterwards)",
                   key=f"run.{key}.start", on_click=_request, args=(key,),
                   help="Runs in a worker process with a progress bar and a Cancel button.")
        return None
    if estimate_seconds <= auto and not st.session_state.get(request):
        return _run_here(label, fn, box, estimate_seconds, key)
    return _run_worker(label, fn, box, estimate_seconds, key, cli)


def take_cancelled(prefix: str) -> bool:
    """True (once) when a computation whose key starts with ``prefix`` was cancelled since the last run; for pages
    that call :func:`run_cancellable` only on their own button (the cancelled run does not come back by itself)."""
    keys = [kk for kk in list(st.session_state) if str(kk).startswith(f"run.{prefix}") and str(kk).endswith(".cancelled")]
    for kk in keys:
        del st.session_state[kk]
    return bool(keys)


def _run_here(label, fn, box, estimate, key):
    """Short work in this process. Its Cancel stops it at the next progress report (Streamlit ends a script run
    that a click interrupts there), i.e. between two χ points of a sweep."""
    slot = box.empty()  # everything of the run lives in this slot, cleared at the end
    panel = slot.container()
    bar = panel.progress(0.0, text=f"Computing {label} …")
    if estimate > INLINE_CANCEL_SECONDS:  # (shorter work would only flash the button)
        panel.button("Cancel", key=f"run.{key}.cancel", on_click=_cancel, args=(key,), icon=":material/cancel:",
                     help="Stops the computation (between two of its steps).")

    def cb(done, total, info=None):
        info = info or {}
        what = info.get("method", "")
        at = f" at χ = {info['chi']:.3g}" if "chi" in info else ""
        bar.progress(min(1.0, done / max(total, 1)), text=f"Computing {label}: {what}{at} ({done}/{total})")

    try:
        result = fn(cb)
    except (ValueError, RuntimeError, ArithmeticError, MemoryError, OSError, np.linalg.LinAlgError) as exc:
        slot.empty()
        show_error(f"{label} failed:", exc)
        return None
    slot.empty()
    return result


def _run_worker(label, fn, box, estimate, key, cli):
    slot = box.empty()
    panel = slot.container(border=True)
    bar = panel.progress(0.0, text=f"{label}: starting …")
    panel.button("Cancel", key=f"run.{key}.cancel", on_click=_cancel, args=(key,), icon=":material/cancel:",
                 help="Stops the computation at once (its worker process is ended).")

    def on_progress(done, total, info, elapsed):
        bar.progress(min(1.0, done / total) if total else 0.0,
                     text=_progress_text(label, done, total, info, elapsed, estimate))

    try:
        result = Job(fn).run(on_progress, poll=0.2)
    except (ValueError, RuntimeError, ArithmeticError, MemoryError, OSError, np.linalg.LinAlgError) as exc:
        st.session_state.pop(f"run.{key}.request", None)
        slot.empty()
        show_error(f"{label} failed:", exc, cli=cli if isinstance(exc, mc.ResourceError) else None)
        return None
    st.session_state.pop(f"run.{key}.request", None)
    slot.empty()
    return result


# --- background jobs: a worker that outlives script runs, polled by the page, with Pause, Resume and Cancel -----

#: Seconds between two polls of a background job (the page's fragment reruns this often while one is running).
POLL_SECONDS = 1.0


def _job_key(key: str) -> str:
    return f"run.{key}.job"


def start_job(key: str, fn, *, label: str, meta=None) -> None:
    """Start ``fn(progress)`` (picklable, e.g. a :class:`~mastcore_dashboard.worker.Call`) in a worker process that
    outlives this script run: the page reads it with :func:`poll_job` (from a fragment with ``run_every=
    POLL_SECONDS``) and draws :func:`job_controls`. A job already under ``key`` is cancelled first. Safe in a
    button's ``on_click``. ``meta``: what the page needs to know about the job (its settings, χ, options)."""
    old = st.session_state.pop(_job_key(key), None)
    if old is not None:
        old["job"].cancel()
    st.session_state.pop(f"run.{key}.cancelled", None)
    st.session_state[_job_key(key)] = {"job": Job(fn).start(), "label": label, "meta": meta}


def poll_job(key: str) -> dict | None:
    """The background job under ``key`` after reading what its worker sent (``{"job", "label", "meta"}``), or
    None. A finished job stays until :func:`end_job` (its ``job.result`` / ``job.error`` are read by the page)."""
    rec = st.session_state.get(_job_key(key))
    if rec is not None:
        rec["job"].poll(0.0)
    return rec


def end_job(key: str) -> None:
    """Forget the background job under ``key`` (its worker is stopped if it still runs)."""
    rec = st.session_state.pop(_job_key(key), None)
    if rec is not None:
        rec["job"].cancel()


def _pause_job(key: str) -> None:
    rec = st.session_state.get(_job_key(key))
    if rec is not None:
        rec["job"].pause()


def _resume_job(key: str) -> None:
    rec = st.session_state.get(_job_key(key))
    if rec is not None:
        rec["job"].resume()


def _cancel_job(key: str) -> None:
    end_job(key)
    st.session_state[f"run.{key}.cancelled"] = True


def job_state(job: Job) -> str:
    """"running", "pausing" (asked to pause, still in its step), "paused" or "finished"."""
    if job.finished:
        return "finished"
    if job.paused:
        return "paused"
    return "pausing" if job.pause_requested else "running"


def job_controls(key: str, text: str, container=None) -> None:
    """The progress bar (``text`` on it) and the Pause or Resume and the Cancel buttons of the job under ``key``."""
    rec = st.session_state.get(_job_key(key))
    if rec is None:
        return
    box = container or st
    job = rec["job"]
    box.progress(min(1.0, job.done / job.total) if job.total else 0.0, text=text)
    with box.container(horizontal=True, gap="small"):
        state = job_state(job)
        if state in ("paused", "pausing"):
            st.button("Resume", key=f"run.{key}.resume", on_click=_resume_job, args=(key,),
                      icon=":material/play_arrow:", help="Goes on from where the work was paused.")
        else:
            st.button("Pause", key=f"run.{key}.pause", on_click=_pause_job, args=(key,), icon=":material/pause:",
                      help="Holds the work after its current step (it keeps what it has done).")
        st.button("Cancel", key=f"run.{key}.cancel", on_click=_cancel_job, args=(key,), icon=":material/cancel:",
                  help="Stops the work at once (its worker process is ended); nothing is stored.")


def curves_key(settings: Settings, chis, methods) -> tuple:
    """The memo key of theory curves (settings, uploaded data, χ values, methods)."""
    return ("curves", settings, data_digest(uploaded_data() if settings.task == "csv" else None),
            tuple(float(c) for c in chis), tuple(methods))


def cached_curves(settings: Settings, chis, methods):
    """Theory curves already in the memo (computed in this process), or None."""
    return memo_get(curves_key(settings, chis, methods))


def curves(task, settings: Settings, chis, methods, *, label: str, estimate: float | None = None):
    """Theory curves (compute.theory_curves) from the memo or the disk cache, or computed through
    :func:`run_cancellable`; None while they wait for a button, are refused or failed."""
    chis = tuple(float(c) for c in chis)
    methods = tuple(methods)

    def lookup():  # computed before (this or another session): the disk cache gives it back instantly
        return compute.theory_curves(task, settings, chis, methods, cache_mode="only")

    return memo_run(curves_key(settings, chis, methods), label,
                    Call(compute.theory_curves, task, settings, chis, methods),
                    estimate_seconds=(lambda: compute.estimate_seconds(settings, methods, chis, task=task))
                    if estimate is None else estimate,
                    prefix="curves", cli=compute.cli_command(settings, chis, methods), lookup=lookup,
                    remedy=lambda: compute.remedy(settings, methods, chis, app_max_seconds()))


def theory_grid(settings: Settings):
    """χ values of the theory curves: 25 for linear nets, 9 for erf/ReLU (their tree level is slower)."""
    return chi_grid(settings.width, N_CHI if settings.linear else N_CHI_SLOW)


def tree_curves(task, settings: Settings):
    """(grid, NNGP + tree-level curves) shared by the pages; the curves are None while they wait for a button."""
    grid = theory_grid(settings)
    return grid, curves(task, settings, grid, ("nngp", "tree"), label="tree level")


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


# --- χ: the server's slider and the chart's own (client-side) slider --------------------------------------

def _nearest(grid, chi) -> float:
    grid = np.asarray(grid, dtype=float)
    return float(grid[int(np.argmin(np.abs(np.log(grid) - np.log(max(float(chi), 1e-12)))))])


def current_chi(grid) -> float:
    """The shared χ snapped to ``grid`` (default: √N, the geometric middle of 1 … N)."""
    cur = st.session_state.get(k("chi"))
    return _nearest(grid, float(np.sqrt(grid[-1])) if cur is None else cur)


def chi_slider(grid, key: str, *, label: str = "χ  (log scale: 1 = standard scaling … N = mean field)",
               help: str | None = None) -> float:
    """A log-scale χ slider over ``grid`` that shares the current χ across pages and the URL (keyboard-friendly;
    the charts also carry their own slider that moves in the browser, see :func:`live_chart`)."""
    grid = [float(g) for g in grid]
    want = current_chi(grid)
    # only when χ changed elsewhere (another page, the chart's slider, a link): writing a widget's state sends the
    # value to the browser, which would overwrite a key press made while this run was going on
    if st.session_state.get(key) != want:
        st.session_state[key] = want

    def _sync():
        st.session_state[k("chi")] = float(st.session_state[key])

    st.select_slider(label, options=grid, key=key, format_func=lambda val: f"{val:g}", on_change=_sync,
                     help=help or "χ sets how strongly the hidden layer may adapt: 1 = standard scaling (a fixed "
                                  "kernel as N → ∞), N = mean-field scaling (features are learned). "
                                  "docs/theory.md §1.2")
    chi = float(st.session_state[key])
    st.session_state[k("chi")] = chi
    if st.query_params.get("chi") != f"{chi:g}":
        st.query_params["chi"] = f"{chi:g}"
    return chi


#: Listens to the plotly slider of a chart (found by its layout.meta) and reports the χ where it is released.
#: Plotly moves the marker and the readout itself, in the browser, while the slider is dragged; the server only
#: hears the final value (one rerun per release).
_LISTENER_JS = """
export default function(component) {
  const { data, setStateValue } = component;
  const meta = data && data.meta;
  function attach() {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      if (!gd.layout || gd.layout.meta !== meta || typeof gd.on !== 'function') continue;
      const ev = gd._ev;
      if (gd.__mcChiHandler && ev && ev.listeners && ev.listeners('plotly_sliderend').includes(gd.__mcChiHandler)) {
        return;
      }
      gd.__mcChiHandler = (e) => {
        const value = e && e.step ? parseFloat(e.step.value) : NaN;
        if (Number.isFinite(value)) setStateValue('chi', value);
      };
      gd.on('plotly_sliderend', gd.__mcChiHandler);
      return;
    }
  }
  attach();
  const timer = setInterval(attach, 250);
  return () => clearInterval(timer);
}
"""

_listener = st.components.v2.component("mastcore_chi_listener", js=_LISTENER_JS, isolate_styles=False)


def _on_live_chi(listen_key: str, grid: tuple) -> None:
    state = st.session_state.get(listen_key) or {}
    chi = state.get("chi") if hasattr(state, "get") else None
    if chi is None or not np.isfinite(chi):
        return
    st.session_state[k("chi")] = _nearest(grid, chi)


# --- every chart: PNG and SVG from the modebar / a button (in the browser), its data as CSV -------------------

#: Plotly config of every chart: the modebar's camera saves a PNG at twice the screen resolution.
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}

#: The SVG button beside a chart: it finds the chart by its ``layout.meta`` and has Plotly's own download (the
#: modebar camera) save it once as SVG instead of PNG, in the browser (no server round trip, no image library).
_SVG_JS = """
export default function(component) {
  const { data, parentElement } = component;
  const button = parentElement.querySelector('button');
  button.onclick = () => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      if (!gd.layout || gd.layout.meta !== data.meta || !gd._context) continue;
      const camera = gd.querySelector('.modebar-btn[data-title^="Download plot"]');
      if (!camera) return;
      const opts = gd._context.toImageButtonOptions = gd._context.toImageButtonOptions || {};
      const previous = {format: opts.format, scale: opts.scale};
      opts.format = 'svg'; opts.scale = 1;
      try { camera.click(); } finally { opts.format = previous.format; opts.scale = previous.scale; }
      return;
    }
  };
}
"""
_SVG_HTML = '<button class="mc-svg" title="Download the chart as SVG (vector graphics)">SVG</button>'
_SVG_CSS = """
.mc-svg { font: inherit; font-size: 0.875rem; padding: 0.25rem 0.75rem; border-radius: 0.5rem; cursor: pointer;
          border: 1px solid rgba(49, 51, 63, 0.2); background: transparent; color: inherit; }
.mc-svg:hover { border-color: #ff4b4b; color: #ff4b4b; }
"""
_svg_button = st.components.v2.component("mastcore_svg_download", html=_SVG_HTML, js=_SVG_JS, css=_SVG_CSS,
                                         isolate_styles=False)


def _file_stem(key: str) -> str:
    return "mastcore-" + "".join(c if c.isalnum() else "-" for c in key).strip("-")


def chart(fig, *, key: str, container=None, config: dict | None = None) -> None:
    """Place a plotly figure with its exports: PNG (modebar camera), SVG and CSV (its data, long form) below it.

    The one place the app draws a chart (pages call this, not ``st.plotly_chart``). ``container``: where to draw
    (a column, the sidebar; default the page). ``fig.layout.meta`` identifies the chart in the browser; a figure
    without one gets ``mc-chart:<key>``.
    """
    where = st if container is None else container
    if fig.layout.meta is None:
        fig.layout.meta = f"mc-chart:{key}"
    stem = _file_stem(key)
    conf = {**CHART_CONFIG, **(config or {})}
    conf["toImageButtonOptions"] = {**CHART_CONFIG["toImageButtonOptions"], "filename": stem,
                                    **(config or {}).get("toImageButtonOptions", {})}
    where.plotly_chart(fig, key=key, config=conf)
    with where.container(horizontal=True, gap="small"):
        st.download_button("CSV", export.figure_csv(fig), file_name=f"{stem}.csv", mime="text/csv",
                           key=f"{key}.csv", on_click="ignore", icon=":material/download:",
                           help="Download the chart's data (one row per point) as CSV")
        _svg_button(key=f"{key}.svg", data={"meta": fig.layout.meta})


def cite(container=None) -> None:
    """The "Cite" expander: BibTeX of the paper and of this software, and the link of the current view."""
    where = st.sidebar if container is None else container
    try:
        base = st.context.url or ""
    except Exception:  # noqa: BLE001  (no browser session, e.g. in tests)
        base = ""
    params = {name: st.query_params.get_all(name) for name in st.query_params}
    link = export.view_link(base, params) if base else None
    with where.expander("Cite", icon=":material/format_quote:"):
        st.markdown("If these results help your work, please cite the paper and the software (version "
                    f"{mc.__version__}); the link reproduces this view.")
        st.code(export.cite_text(mc.__version__, link), language="bibtex")
        if link:
            st.markdown(f"[Link of this view]({link})")


def live_chart(fig, *, key: str, grid) -> None:
    """Place a figure that carries its own χ slider (mastcore.plots builders with ``live=True``).

    Dragging that slider moves the χ marker and the readout in the browser (Plotly, no server round trip); when
    it is released, the χ is sent to the server (a small Streamlit component listening to Plotly's
    ``plotly_sliderend``), which stores it as the shared χ, updates the URL and reruns the enclosing fragment.
    """
    chart(fig, key=key)
    _listener(key=f"{key}.listen", data={"meta": fig.layout.meta},
              on_chi_change=functools.partial(_on_live_chi, f"{key}.listen", tuple(float(g) for g in grid)))


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
