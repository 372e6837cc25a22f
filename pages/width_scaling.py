"""Width scaling: where the saddle point suffices (χ = N) and where the one loop is needed (χ = 1)."""
import streamlit as st

from dashboard import compute
from dashboard.widgets import current_settings, memo_get, memo_put, page_header
from mastcore import plots

settings = current_settings()
page_header("Width scaling: error against the exact posterior as N grows", settings)
st.markdown(
    "The paper's central claim, made visible: in **mean-field scaling (χ = N)** the tree level's error falls like "
    "1/N while the NNGP stays wrong; in **standard scaling (χ = 1)** the tree level is no better than the NNGP "
    "and the **one loop** is needed (its error falls like 1/N²)."
)
if settings.activation != "linear":
    st.warning("The exact posterior exists for linear networks only: choose **linear** in the sidebar.",
               icon=":material/warning:")
    st.stop()

st.caption("A small problem keeps this fast; the sidebar's task, κ0, g_v, g_w and seed are used.")
c = st.columns(5)
P = c[0].number_input("P", 2, 200, min(settings.P, 12), key="ws.P")
D = c[1].number_input("D", 1, 1000, min(settings.D, 30), key="ws.D")
widths = c[2].multiselect("widths N", [4, 8, 16, 32, 64, 128, 256, 512], [8, 16, 32, 64], key="ws.widths")
sweeps = c[3].number_input("Gibbs sweeps", 50, 100000, 600, step=100, key="ws.sweeps")
chains = c[4].number_input("chains", 2, 1024, 32, step=8, key="ws.chains")
if not widths:
    st.error("Choose at least one width N.")
    st.stop()
small = settings.replace(P=int(P), D=int(D), P_test=max(1, settings.P_test))
try:
    task = compute.build_task(small)
except ValueError as exc:
    st.error(f"**These settings cannot be used.** {exc}", icon=":material/error:")
    st.stop()
methods = ("nngp", "tree", "one_loop")
opts = dict(n_chains=int(chains), n_sweeps=int(sweeps), burn_in=min(100, int(sweeps) // 4), seed=0)
key = ("width_scaling", small, tuple(sorted(widths)), methods, tuple(sorted(opts.items())))
df = memo_get(key)
if st.button("Compute" if df is None else "Recompute", type="primary", key="ws.run"):
    with st.status("Width scan: theory and exact posterior at χ = 1 and χ = N …", expanded=True) as status:
        bar = st.progress(0.0)

        def cb(done, total, info):
            bar.progress(done / total, text=f"{done}/{total}: N = {info['width']}")

        try:
            df = compute.width_scaling(task, small, sorted(widths), methods=methods, exact_options=opts, progress=cb)
        except (ValueError, RuntimeError) as exc:
            status.update(label="Width scan failed", state="error")
            st.error(str(exc))
            st.stop()
        status.update(label="Done", state="complete", expanded=False)
    memo_put(key, df)
if df is None:
    st.info("Press **Compute** to run the scan (cached afterwards).", icon=":material/play_arrow:")
    st.stop()
st.plotly_chart(plots.width_scaling_figure(df), key="ws.fig")
st.dataframe(df, hide_index=True)
