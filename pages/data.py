"""Data: what the task looks like, and an upload of your own CSV."""
import numpy as np
import streamlit as st

import mastcore as mc
from dashboard.widgets import current_settings, k, page_header, require_task
from mastcore import plots

settings = current_settings()
page_header("Data: the task the network learns", settings)

task = require_task(settings)
c = st.columns(4)
c[0].metric("train points P", task.P)
c[1].metric("test points P*", task.X_test.shape[0])
c[2].metric("input dimension D", task.D)
c[3].metric("label mean (train)", f"{np.mean(task.y):+.3f}")
if settings.task in ("digits", "mnist") and int(round(np.sqrt(task.D))) ** 2 == task.D:
    st.subheader("Sample digits")
    st.plotly_chart(plots.digit_samples(task.X, task.y, n=12), key="data.digits")
st.subheader("Inputs" + (" (Ising spins)" if settings.task == "ising" else ""))
st.plotly_chart(plots.spins_image(task.X, task.y), key="data.image")
left, right = st.columns(2)
left.markdown("**Label balance**")
left.plotly_chart(plots.label_balance(task.y, task.y_test), key="data.labels")
right.markdown("**Spectrum of the NNGP kernel C0** (train set)")
try:
    C0 = mc.nngp_kernel(task.X, task.X, settings.network_spec(1.0))
    right.plotly_chart(plots.kernel_spectrum(np.linalg.eigvalsh(C0), kappa0=settings.kappa0), key="data.spec")
except ValueError as exc:
    right.warning(f"Kernel not available for this activation: {exc}", icon=":material/warning:")

st.divider()
st.subheader("Your own data")
st.markdown(
    "Upload a CSV with a header row: numeric feature columns and the label in the **last** column (e.g. ±1). "
    "The first P rows (after a seeded shuffle) are the training set, the rest the test set; features are "
    "standardised."
)
up = st.file_uploader("CSV file", type=["csv", "txt"], key="data.upload")
if up is not None:
    try:
        X, y, names = mc.load_csv(up.getvalue())
    except ValueError as exc:
        st.error(f"**This file cannot be used.** {exc}. Fix the file and upload it again.", icon=":material/error:")
        st.stop()
    shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
    st.success(f"Read {X.shape[0]} rows, {X.shape[1]} features ({shown}).")
    if settings.P >= X.shape[0]:
        st.error(
            f"P = {settings.P} is larger than the data allows: the file has {X.shape[0]} rows and at least one must "
            f"stay for testing. Set P to at most {X.shape[0] - 1} in the sidebar.", icon=":material/error:"
        )
        st.stop()

    def _use():
        st.session_state["data.csv"] = {"X": X, "y": y, "names": names, "file": up.name}
        st.session_state[k("task")] = "csv"
        st.session_state[k("preset")] = "Custom"
        st.session_state[k("D")] = int(X.shape[1])

    st.button("Use this data set", on_click=_use, type="primary", key="data.use")
elif "data.csv" in st.session_state:
    st.caption(f"In use: {st.session_state['data.csv']['file']} (task 'csv' in the sidebar).")
