"""Networks: exact-posterior or Langevin ensembles for the current settings, compared with the theory."""
import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

import mastcore as mc
from mastcore import explore, plots
from pages.common import (
    chi_slider,
    current_settings,
    page_header,
    require_task,
    require_theory,
    theory_grid,
    tree_sweep,
    warning_badges,
)

#: Shorter Langevin runs than the library's defaults, so that a demo run takes seconds (raise for accuracy).
LANGEVIN_DEFAULTS = {"ensemble": 16, "steps": 4000, "burn_in": 500}

settings = current_settings()
caps = explore.capabilities()
linear = settings.activation == "linear"
page_header("Networks: sample the posterior, train real networks", settings, caps)
st.markdown(
    "The **exact posterior** of a linear network (Gibbs sampling, THEORY §7) and **networks trained with "
    "Langevin dynamics** (whose stationary law is that posterior) are the references every theory is judged by. "
    "Runs are cached on disk: the ones listed below load instantly."
)
require_theory(settings, caps)
task = require_task(settings)

kinds = []
if caps["exact"] and linear:
    kinds.append("exact")
if caps["langevin"]:
    kinds.append("langevin")
if not caps["exact"]:
    st.info(f"Not installed: {explore.MISSING_TEXT['exact']}.", icon=":material/extension:")
elif not linear:
    st.info("The exact posterior sampler is for linear networks; use Langevin training for erf/ReLU.",
            icon=":material/info:")
if not caps["langevin"]:
    st.info(f"Not installed: {explore.MISSING_TEXT['langevin']}.", icon=":material/extension:")

grid = theory_grid(settings)
chi = chi_slider(grid, "net.chi")
index = explore.run_index()

if kinds:
    kind = st.radio("reference", kinds, horizontal=True, key="net.kind",
                    format_func=lambda k: plots.METHOD_STYLE[k][0])
    with st.form("net.form"):
        options = {}
        if kind == "exact":
            c = st.columns(4)
            options["n_chains"] = c[0].number_input("chains", 2, 1024, 32, step=8, key="net.n_chains")
            options["n_sweeps"] = c[1].number_input("sweeps", 2, 100000, 400, step=100, key="net.n_sweeps")
            options["burn_in"] = c[2].number_input("burn-in", 0, 100000, 50, step=10, key="net.burn_in")
            options["seed"] = c[3].number_input("seed", 0, 2**31 - 1, 0, key="net.seed")
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
    if submitted:
        if kind == "exact" and options["n_sweeps"] <= options["burn_in"]:
            st.error("The number of sweeps must be larger than the burn-in: increase 'sweeps' or lower 'burn-in'.")
            st.stop()
        with st.status(f"Running {plots.METHOD_STYLE[kind][0]} at χ = {chi:g} …", expanded=True) as status:
            bar = st.progress(0.0)

            def cb(done, total, info=None):
                extra = ""
                if isinstance(info, dict) and "mean_y_delta" in info:
                    extra = f" · mean(y·Δ) ≈ {info['mean_y_delta']:.5f}"
                bar.progress(min(1.0, done / max(total, 1)), text=f"{done}/{total}{extra}")

            try:
                result, record = explore.reference_run(task, settings, chi, kind, options, progress=cb, index=index)
            except (ValueError, RuntimeError) as exc:
                status.update(label="Run failed", state="error")
                st.error(f"{exc}")
                st.stop()
            status.update(label=f"Done in {record['seconds']:.1f} s", state="complete", expanded=False)
        st.session_state["net.last"] = (settings.key(), chi, kind, options, result, record)

# --- runs for these settings (cached on disk; loading re-reads the joblib cache) ---------------------------
records = [r for r in index.records(key=settings.key()) if r["kind"] in ("exact", "langevin")]
st.subheader("Runs for these settings")
if not records:
    st.caption("No runs yet for these settings.")
else:
    df = pd.DataFrame(records)
    cols = [c for c in ("kind", "chi", "train_mean_y_delta", "train_mean_y_delta_se", "test_mean_y_delta",
                        "seconds", "converged", "time") if c in df]
    st.dataframe(df[cols].iloc[::-1], hide_index=True)
    labels = [f"{r['kind']} · χ = {r['chi']:g} · {r['time']}" for r in records][::-1]
    pick = st.selectbox("show a run", labels, key="net.pick")
    rec = records[::-1][labels.index(pick)]
    last = st.session_state.get("net.last")
    if st.button("Load traces", key="net.load", help="instant when the run is in the disk cache"):
        with st.spinner("Loading …"):
            result, _ = explore.reference_run(task, settings, rec["chi"], rec["kind"], rec["options"])
        st.session_state["net.last"] = (settings.key(), rec["chi"], rec["kind"], rec["options"], result, rec)

last = st.session_state.get("net.last")
if last is not None and last[0] == settings.key():
    _, run_chi, kind, options, result, rec = last
    st.subheader(f"{plots.METHOD_STYLE[kind][0]} at χ = {run_chi:g}")
    if not rec.get("converged", True):
        st.badge("not converged", icon=":material/warning:", color="orange")
    warning_badges(rec.get("messages", []), where="run")
    tr = explore.traces(result)
    _, base = tree_sweep(task, settings)
    theory = {}
    if base is not None:
        for m in ("nngp", "tree"):
            row = base.at(m, run_chi)
            if row is not None:
                theory[plots.METHOD_STYLE[m][0]] = row["train_mean_y_delta"]
    if tr:
        st.plotly_chart(plots.traces_figure(tr, burn_in=options.get("burn_in") if kind == "exact" else None,
                                            reference=theory), key="net.traces")
    rows = [{"method": k, "train mean(y·Δ)": v, "s.e.": np.nan} for k, v in theory.items()]
    rows.append({"method": plots.METHOD_STYLE[kind][0], "train mean(y·Δ)": rec.get("train_mean_y_delta"),
                 "s.e.": rec.get("train_mean_y_delta_se")})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("The run also appears as a point with an error bar on the **Regimes** page.")
