"""Learning curves: how the errors fall as the training set grows, for every theory at one χ."""
import streamlit as st

from mastcore_dashboard import compute
from mastcore_dashboard.state import VIEW_PARAMS
from mastcore_dashboard.charts import chart
from mastcore_dashboard.chi import chi_slider
from mastcore_dashboard.curves import theory_grid
from mastcore_dashboard.header import page_header
from mastcore_dashboard.keys import v
from mastcore_dashboard.notices import show_error
from mastcore_dashboard.runs import memo_run
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.task_data import data_digest, uploaded_data
from mastcore_dashboard.url_state import view_widget
from mastcore_dashboard.worker import Call
from mastcore import plots
from mastcore.sweep import METHODS

settings = current_settings()
page_header(
    "Learning curves", settings,
    "**How does the error fall with more data?** Each theory's training and test errors against the number of "
    "training examples P, on log–log axes, at one χ.",
)
methods = compute.learning_methods(settings.activation)
st.markdown(
    "The test set stays the same (P* = " + str(settings.P_test) + "); each P draws its own training set from the "
    "sidebar's seed. Methods: " + ", ".join(f"**{METHODS[m].label}**" for m in methods)
    + ("; the **exact posterior** of a linear network (the mean of infinitely long-trained networks: black "
       "dash-dot line with open circles) comes from a one-dimensional quadrature, exact and cheap "
       "(docs/theory.md §7.4)" if "quadrature" in methods else "")
    + ". Networks (exact sampler, Langevin) appear as points where the disk cache holds a run at this χ and P "
    "(make them on the **Networks** page)."
)
data = uploaded_data() if settings.task == "csv" else None
n_rows = None if data is None else int(data[0].shape[0])
grid = theory_grid(settings)
chi = chi_slider(grid, "lc.chi", label="χ of the learning curves (log scale: 1 = standard … N = mean field)")

candidates = sorted({*compute.default_sizes(settings.replace(P=1000 // 4), n_rows),
                     *(VIEW_PARAMS["lcP"].default or ())})
default = list(compute.default_sizes(settings, n_rows))
if st.session_state.get(v("lcP")) is None:
    st.session_state["lc.sizes"] = default
elif "lc.sizes" not in st.session_state:
    st.session_state["lc.sizes"] = [p for p in st.session_state[v("lcP")] if p in candidates] or default
for p in st.session_state["lc.sizes"]:
    if p not in candidates:
        candidates = sorted({*candidates, p})


def _sizes_changed():
    val = tuple(sorted(st.session_state["lc.sizes"]))
    st.session_state[v("lcP")] = None if list(val) == default else val


c1, c2 = st.columns([2, 1])
sizes = c1.multiselect("training-set sizes P", candidates, key="lc.sizes", on_change=_sizes_changed,
                       help="Each P is one mc.sweep of every method at this χ (cached on disk).")
obs = view_widget("radio", "observable", "lcobs", key="lc.obs", container=c2, options=list(plots.LEARNING_LABELS),
                  format_func=plots.LEARNING_LABELS.get, horizontal=True,
                  help="mean(y·Δ): the part of the labels the prediction misses; mean(Δ²): mean squared error; "
                       "0–1 error: share of wrong signs. Lower is better for all three (docs/theory.md §0.2).")
if not sizes:
    st.error("Choose at least one training-set size P.")
    st.stop()
bad = [p for p in sizes if n_rows is not None and p >= n_rows]
if bad:
    st.error(f"P = {', '.join(map(str, bad))} is too large for this data set ({n_rows} rows); remove it.")
    st.stop()
probe = settings.replace(P=max(sizes))
if probe.problems(n_rows):
    st.error("**These settings cannot be used.** " + " ".join(probe.problems(n_rows)), icon=":material/error:")
    st.stop()
if compute.task_problem(probe):
    st.error(f"**This data set is too large for the app** (P = {probe.P}). {compute.task_problem(probe)}",
             icon=":material/error:")
    st.stop()

key = ("learning", settings, tuple(sorted(sizes)), float(chi), methods, data_digest(data))
try:
    df = memo_run(key, "learning curves", Call(compute.learning_curves, settings, tuple(sorted(sizes)), chi,
                                               methods=methods, data=data),
                  estimate_seconds=lambda: compute.learning_seconds(settings, sizes, methods, chi), prefix="lc",
                  cli=compute.cli_command(probe, [chi], methods),
                  remedy=f"Remove the largest training-set sizes (P = {max(sizes)}), or lower P* or D in the sidebar")
except ValueError as exc:
    show_error("The learning curves could not be computed:", exc)
    st.stop()
if df is None:
    st.stop()
if obs == "error01" and not df.filter(like="error01").notna().to_numpy().any():
    st.info("The 0–1 error (share of wrong signs) is defined for ±1 labels only, and this task's labels are not "
            "±1 (e.g. {0, 1}, several classes or real values): choose mean(y·Δ) or mean(Δ²), or encode two "
            "classes as −1/+1.", icon=":material/info:")
    st.stop()
chart(plots.learning_curves_figure(df, obs), key="lc.fig")
st.caption("Both axes are logarithmic: a straight line means a power law, error ∝ P^(−slope). Lower is better.")
with st.expander("Table"):
    cols = [c for c in ("P", "method", f"train_{obs}", f"test_{obs}", f"train_{obs}_se", f"test_{obs}_se",
                        "converged") if c in df]
    st.dataframe(df[cols], hide_index=True)
