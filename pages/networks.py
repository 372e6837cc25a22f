"""Networks: exact-posterior or Langevin ensembles for the current settings, compared with the theory."""
import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

import mastcore as mc
from dashboard import compute
from dashboard.widgets import chi_slider, current_settings, page_header, require_task, theory_grid, tree_curves, \
    warning_badges
from mastcore import plots

#: Shorter Langevin runs than the library's defaults, so that a demo run takes seconds (raise for accuracy).
LANGEVIN_DEFAULTS = {"ensemble": 16, "steps": 4000, "burn_in": 500}

settings = current_settings()
linear = settings.activation == "linear"
page_header("Networks: sample the posterior, train real networks", settings)
st.markdown(
    "The **exact posterior** of a linear network (Gibbs sampling, docs/theory.md §7) and **networks trained with "
    "Langevin dynamics** (whose stationary law is that posterior, §13) are the references every theory is judged "
    "by. Runs are cached on disk: the ones listed below load instantly."
)
task = require_task(settings)
kinds = ["exact", "langevin"] if linear else ["langevin"]
if not linear:
    st.info("The exact posterior sampler is for linear networks; use Langevin training for erf/ReLU.",
            icon=":material/info:")

grid = theory_grid(settings)
chi = chi_slider(grid, "net.chi")

kind = st.radio("reference", kinds, horizontal=True, key="net.kind", format_func=lambda k: plots.METHOD_STYLE[k][0])
with st.form("net.form"):
    options = {}
    if kind == "exact":
        c = st.columns(4)
        options["n_chains"] = int(c[0].number_input("chains", 2, 1024, 32, step=8, key="net.n_chains"))
        options["n_sweeps"] = int(c[1].number_input("sweeps", 2, 100000, 400, step=100, key="net.n_sweeps"))
        options["burn_in"] = int(c[2].number_input("burn-in", 0, 100000, 50, step=10, key="net.burn_in"))
        options["seed"] = int(c[3].number_input("seed", 0, 2**31 - 1, 0, key="net.seed"))
    else:
        fields = [f for f in dataclasses.fields(mc.LangevinOptions)
                  if isinstance(f.default, (int, float)) and not isinstance(f.default, bool)]
        cols = st.columns(4)
        for i, f in enumerate(fields):
            default = LANGEVIN_DEFAULTS.get(f.name, f.default)
            options[f.name] = cols[i % 4].number_input(
                f.name, value=default, key=f"net.lv.{f.name}", format="%d" if isinstance(default, int) else "%.4g"
            )
    submitted = st.form_submit_button("Run", type="primary")


def _run(run_chi, run_kind, run_options, label):
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0)

        def cb(done, total, info=None):
            bar.progress(min(1.0, done / max(total, 1)), text=f"{done}/{total}")

        try:
            result, row, messages = compute.reference_run(task, settings, run_chi, run_kind, run_options, progress=cb)
        except (ValueError, RuntimeError) as exc:
            status.update(label="Run failed", state="error")
            st.error(f"{exc}")
            st.stop()
        status.update(label=f"Done in {row['seconds']:.1f} s", state="complete", expanded=False)
    st.session_state["net.last"] = (task.spec, settings, run_chi, run_kind, run_options, result, row, messages)


if submitted:
    if kind == "exact" and options["n_sweeps"] <= options["burn_in"]:
        st.error("The number of sweeps must be larger than the burn-in: increase 'sweeps' or lower 'burn-in'.")
        st.stop()
    _run(chi, kind, options, f"Running {plots.METHOD_STYLE[kind][0]} at χ = {chi:g} …")

# --- runs for these settings (read from the disk cache, so the list always agrees with it) -----------------
runs = compute.runs(task, settings)
st.subheader("Runs for these settings")
if runs.empty:
    st.caption("No runs yet for these settings.")
else:
    cols = [c for c in ("method", "chi", "train_mean_y_delta", "train_mean_y_delta_se", "test_mean_y_delta",
                        "seconds", "converged") if c in runs]
    st.dataframe(runs[cols].iloc[::-1], hide_index=True)
    labels = [f"{r.method} · χ = {r.chi:g} · run {i + 1}" for i, r in enumerate(runs.itertuples())][::-1]
    pick = st.selectbox("show a run", labels, key="net.pick")
    rec = runs.iloc[::-1].iloc[labels.index(pick)]
    if st.button("Load traces", key="net.load", help="instant: the run is in the disk cache"):
        _run(float(rec["chi"]), rec["method"], dict(rec["options"]), "Loading …")

last = st.session_state.get("net.last")
if last is not None and last[0] == task.spec and last[1] == settings:
    _, _, run_chi, kind, options, result, row, messages = last
    st.subheader(f"{plots.METHOD_STYLE[kind][0]} at χ = {run_chi:g}")
    if not row.get("converged", True):
        st.badge("not converged", icon=":material/warning:", color="orange")
    warning_badges(messages, where="run")
    tr = compute.traces(result)
    _, base = tree_curves(task, settings)
    theory = {}
    if base is not None:
        for m in ("nngp", "tree"):
            trow = base.at(m, run_chi)
            if trow is not None:
                theory[plots.METHOD_STYLE[m][0]] = trow["train_mean_y_delta"]
    st.plotly_chart(plots.traces_figure(tr, burn_in=result.trace.burn_in, steps=result.trace.steps,
                                        reference=theory), key="net.traces")
    rows = [{"method": k, "train mean(y·Δ)": v, "s.e.": np.nan} for k, v in theory.items()]
    rows.append({"method": plots.METHOD_STYLE[kind][0], "train mean(y·Δ)": row.get("train_mean_y_delta"),
                 "s.e.": row.get("train_mean_y_delta_se")})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("The run also appears as a point with an error bar on the **Regimes** page.")
