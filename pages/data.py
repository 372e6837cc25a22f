"""Data: what the task looks like, and an upload of your own CSV."""
import numpy as np
import streamlit as st

from mastcore_dashboard import compute, prose
from mastcore_dashboard.state import MAX_UPLOAD_COLUMNS, MAX_UPLOAD_MB, md_code
from mastcore_dashboard.charts import chart
from mastcore_dashboard.header import page_header
from mastcore_dashboard.keys import k
from mastcore_dashboard.notices import show_error
from mastcore_dashboard.runs import memo_run
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.task_data import data_digest, label_warning, read_upload, require_task, uploaded_data
from mastcore_dashboard.worker import Call
from mastcore import plots

#: The spectrum is computed without asking when it is expected to take less than this (seconds).
SPECTRUM_AUTO_SECONDS = 0.5

settings = current_settings()
page_header(prose.DATA_TITLE, settings, prose.DATA_INTRO)

task = require_task(settings)
c = st.columns(4)
c[0].metric("train points P", task.P, help="Examples the network is fitted to.")
c[1].metric("test points P*", task.X_test.shape[0], help="Held-out examples that measure generalisation.")
c[2].metric("input dimension D", task.D, help="Numbers per example.")
c[3].metric("label mean (train)", f"{np.mean(task.y):+.3f}", help="0 = balanced ±1 labels.")
if settings.task in ("digits", "mnist") and int(round(np.sqrt(task.D))) ** 2 == task.D:
    st.subheader("Sample digits")
    st.caption(prose.DATA_STANDARDISED_PIXELS_EACH_PIXEL)
    chart(plots.digit_samples(task.X, task.y, n=12), key="data.digits")
st.subheader("Inputs" + (" (Ising spins)" if settings.task == "ising" else ""))
chart(plots.spins_image(task.X, task.y), key="data.image")
left, right = st.columns(2)
left.markdown("**Label balance**")
chart(plots.label_balance(task.y, task.y_test), key="data.labels", container=left)
right.markdown(prose.DATA_SPECTRUM_NNGP_KERNEL_C)
key = ("spectrum", settings, data_digest(uploaded_data() if settings.task == "csv" else None))
with right:
    eig = memo_run(key, "the kernel spectrum", Call(compute.kernel_spectrum, task, settings),
                   estimate_seconds=lambda: compute.spectrum_seconds(settings, task), prefix="data",
                   auto_seconds=SPECTRUM_AUTO_SECONDS, remedy="Lower P in the sidebar")
if eig is not None:
    chart(plots.kernel_spectrum(eig, kappa0=settings.kappa0), key="data.spec", container=right)
    right.caption(prose.DATA_EIGENVALUES_ABOVE_DIRECTIONS_NETWORK)

st.divider()
st.subheader("Your own data")
st.markdown(prose.DATA_UPLOAD_CSV_HEADER_ROW)
up = st.file_uploader("CSV file", type=["csv", "txt"], key="data.upload",
                      help=f"Numbers only; the label in the last column; UTF-8 or UTF-16 text; at most "
                           f"{MAX_UPLOAD_COLUMNS - 1:,} features and {MAX_UPLOAD_MB} MB. The file stays in this "
                           "session's memory.")
if up is not None:
    try:
        X, y, names = read_upload(up.getvalue())  # parsed once per upload, not on every rerun
    except (ValueError, MemoryError) as exc:
        show_error("This file cannot be used. Fix the file and upload it again:", exc)
        st.stop()
    shown = ", ".join(md_code(n, limit=40) for n in names[:6]) + (" …" if len(names) > 6 else "")
    st.success(f"Read {X.shape[0]} rows, {X.shape[1]} features ({shown}).")
    labels = label_warning(y)
    if labels:
        st.warning(labels, icon=":material/warning:")
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

    st.button("Use this data set", on_click=_use, type="primary", key="data.use",
              help=prose.DATA_SWITCHES_TASK_CSV_SESSION)
elif "data.csv" in st.session_state:
    st.caption(f"In use: {md_code(st.session_state['data.csv']['file'])} (task 'csv' in the sidebar).")
