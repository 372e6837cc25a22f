"""Learning curves: how the errors fall as the training set grows, for every theory at one χ."""
import streamlit as st

from mastcore_dashboard import compute, prose
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
from mastcore.engine import METHODS

settings = current_settings()
page_header(prose.CURVES_TITLE, settings, prose.CURVES_INTRO)
methods = compute.learning_methods(settings.activation)
st.markdown(prose.curves_about(settings.P_test, [METHODS[m].label for m in methods], "quadrature" in methods))
data = uploaded_data() if settings.task == "csv" else None
n_rows = None if data is None else int(data[0].shape[0])
grid = theory_grid(settings)
chi = chi_slider(grid, "lc.chi", label=prose.CURVES_LEARNING_CURVES_LOG_SCALE)

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
                       help=prose.CURVES_EACH_P_ONE_MC)
obs = view_widget("radio", "observable", "lcobs", key="lc.obs", container=c2, options=list(plots.LEARNING_LABELS),
                  format_func=plots.LEARNING_LABELS.get, horizontal=True,
                  help=prose.CURVES_MEAN_Y_PART_LABELS)
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
    st.info(prose.CURVES_ERROR_SHARE_WRONG_SIGNS, icon=":material/info:")
    st.stop()
chart(plots.learning_curves_figure(df, obs), key="lc.fig")
st.caption(prose.CURVES_BOTH_AXES_LOGARITHMIC_STRAIGHT)
with st.expander("Table"):
    cols = [c for c in ("P", "method", f"train_{obs}", f"test_{obs}", f"train_{obs}_se", f"test_{obs}_se",
                        "converged") if c in df]
    st.dataframe(df[cols], hide_index=True)
