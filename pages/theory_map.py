"""Theory map: which theory is accurate where, over width N (P/N) and χ/N (docs/theory.md §18)."""
import numpy as np
import streamlit as st

from mastcore_dashboard import prose, theory_map as tm
from mastcore_dashboard.charts import chart
from mastcore_dashboard.header import page_header
from mastcore_dashboard.notices import show_error
from mastcore_dashboard.runs import memo_run
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.task_data import data_digest, uploaded_data
from mastcore_dashboard.worker import Call
from mastcore import plots

settings = current_settings()
page_header("Theory map", settings, prose.map_intro(tm.ACCURACY))
linear = settings.linear
st.markdown(prose.map_colours(linear, tm.ACCURACY, float(np.log10(tm.ACCURACY))))
data = uploaded_data() if settings.task == "csv" else None
c1, c2 = st.columns(2)
# linear: the whole default grid in seconds; erf/ReLU: each cell trains networks, so one width and both scalings
widths = c1.multiselect("widths N", sorted({*tm.map_widths(settings), 10, 20, 40, 80, 160, 320}),
                        default=list(tm.map_widths(settings)) if linear else [settings.width], key="tmap.widths",
                        help="Rows of the map; P/N = P divided by the width.")
fracs = c2.multiselect("χ/N", list(tm.CHI_CHOICES), default=[0.0, 0.05, 0.25, 1.0] if linear else [0.0, 1.0],
                       key="tmap.chis",
                       format_func=lambda f: "χ = 1" if f == 0 else f"{f:g}",
                       help=prose.MAP_COLUMNS_MAP_STANDARD_SCALING)
if not widths or not fracs:
    st.error("Choose at least one width and one χ/N.")
    st.stop()
if any(w < 1 for w in widths):
    st.error("Widths must be at least 1.")
    st.stop()

key = ("theory_map", settings, tuple(sorted(widths)), tuple(sorted(fracs)), data_digest(data))
try:
    tmap = memo_run(
        key, "theory map", Call(tm.theory_map, settings, tuple(sorted(widths)), tuple(sorted(fracs)), data=data),
        estimate_seconds=lambda: tm.estimate_seconds(settings, sorted(widths), sorted(fracs)), prefix="tmap",
        lookup=None if linear else (lambda: tm.cached_map(settings, sorted(widths), sorted(fracs), data=data)),
        remedy="Choose fewer widths or χ/N values",
        keep=lambda t: t.complete and not t.table["reference"].isna().any())  # an unfinished map is not kept
except ValueError as exc:
    show_error("The theory map could not be computed:", exc)
    st.stop()


def show(tmap):
    """The figure, the summary, the recommendation and the table of a computed map."""
    table = tmap.table
    chart(plots.theory_map_figure(table, accuracy=tm.ACCURACY), key="tmap.fig")
    labels = tm.labels()
    counts = tm.best_counts(tmap)
    if counts:
        best = table[table["best"]]
        met = int((best["relative_error"] <= tm.ACCURACY).sum())
        st.markdown("**Most accurate**: " + "; ".join(f"{labels[t]} in {n} cell{'s' * (n != 1)}"
                                                       for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))
                    + f". The best theory meets the {100 * tm.ACCURACY:g} % accuracy (★) in {met} of {len(best)} cells.")
    if table["reference"].isna().any():
        st.caption(prose.MAP_EMPTY_CELLS_NO_REFERENCE)

    with st.expander("What is recommended at the sidebar's setting?"):
        cc1, cc2 = st.columns([1, 2])
        chi = cc1.number_input("χ", min_value=1.0, value=1.0, key="tmap.chi",
                               help=prose.MAP_RECOMMENDATION_SIDEBAR_S_N)
        if cc2.button("Recommend a theory", key="tmap.recommend"):
            try:
                st.session_state["tmap.rec"] = (key, float(chi), tm.recommendation(settings, chi, data=data))
            except (ValueError, RuntimeError) as exc:
                show_error("No recommendation:", exc)
        saved = st.session_state.get("tmap.rec")
        if saved is not None and saved[0] == key and saved[1] == float(chi):
            rec = saved[2]
            verdict = "trustworthy" if rec["trustworthy"] else "not trustworthy"
            st.markdown(f"**{rec['label']}** ({verdict}).")
            st.caption(rec["reason"])

    with st.expander("Table"):
        st.dataframe(table[["width", "P_over_N", "chi", "label", "mean_y_delta", "reference", "relative_error",
                            "best"]], hide_index=True)


if tmap is not None:  # (a page module re-imported by a worker process in bare mode computes nothing)
    show(tmap)
