"""Feature learning: how the kernel and the weight covariance adapt as χ grows (docs/theory.md §4)."""
import numpy as np
import streamlit as st

from mastcore_dashboard import atlas_view, compute, prose
from mastcore_dashboard.charts import chart
from mastcore_dashboard.chi import chi_slider, live_chart
from mastcore_dashboard.curves import tree_curves
from mastcore_dashboard.header import page_header
from mastcore_dashboard.notices import warning_badges
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.task_data import require_task
from mastcore import plots

settings = current_settings()
page_header(prose.FEATURES_TITLE, settings, prose.FEATURES_INTRO)
st.markdown(prose.FEATURES_ABOUT)
task = require_task(settings)
grid, base = tree_curves(task, settings)
if base is None:
    st.stop()
warning_badges(base.messages, where="tree level")


@st.fragment
def live_view():
    chi = chi_slider(grid, "feat.chi")
    tree = base.tree(chi)
    if not tree.converged:
        st.badge("tree level not converged at this χ", icon=":material/warning:", color="orange")
    fs = compute.features_at(task, base, chi)
    c = st.columns(4)
    c[0].metric("rescaling factor s", f"{fs['s']:.4f}" if np.isfinite(fs["s"]) else "–",
                help=prose.FEATURES_HOW_MUCH_ADAPTED_KERNEL)
    c[1].metric("Σ_v outlier / (g_v/D)", f"{fs['eig'][0]:.3f}",
                help=prose.FEATURES_LARGEST_EIGENVALUE_NEURON_S)
    c[2].metric("overlap with task direction", f"{fs['overlap']:.3f}" if np.isfinite(fs["overlap"]) else "–",
                help=prose.FEATURES_TOP_EIGENVECTOR_V_TASK)
    c[3].metric("best scalar rescaling misses", f"{100 * fs['rescaling_gap']:.2f} %",
                help=prose.FEATURES_MAX_F_TREE_GP)
    t = base.table
    fig = plots.features_figure(t, chi, live=True, meta="mc-features")
    fig.add_traces(atlas_view.features_traces(settings))  # the networks' s (first panel), at the presets
    live_chart(fig, key="feat.chart", grid=grid)
    if note := atlas_view.caption(settings, atlas_view.FEATURES_WHAT):
        st.caption(note)
    st.caption(prose.FEATURES_DRAG_UNDER_PANELS_MARKERS)
    chart(plots.kernel_heatmaps(fs["C0"], fs["C"], fs["order"]), key="feat.heat")
    left, right = st.columns(2)
    chart(plots.sigma_v_spectrum(fs["eig"], title=f"Spectrum of Σ_v at χ = {chi:g}"), key="feat.spec", container=left)
    right.info(prose.features_message(fs["rescaling_gap"]), icon=":material/lightbulb:")


live_view()
