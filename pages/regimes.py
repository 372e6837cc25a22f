"""Regimes (landing page): slide χ from the kernel regime (χ = 1) to mean field (χ = N)."""
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import compute
from dashboard.state import N_CHI_SLOW, OBSERVABLES, chi_grid
from dashboard.widgets import AUTO_SECONDS, chi_slider, current_settings, curves, page_header, require_task, \
    tree_curves, warning_badges
from mastcore import plots

settings = current_settings()
linear = settings.activation == "linear"
page_header("Regimes: from kernels to features", settings)
st.markdown(
    "A network with χ = 1 (standard scaling) behaves like a fixed kernel machine: its errors, measured by the "
    "discrepancy Δ = y − f between labels and mean predictions, do not depend on χ (the flat **NNGP** line). "
    "Slide χ towards N (mean-field scaling) and the hidden weights adapt to the task — the network learns "
    "features and Δ shrinks; the **tree level** captures this trend"
    + (" and the **one loop** adds the finite-width correction that makes it match the exact posterior."
       if linear else ".")
)
task = require_task(settings)

# --- theory curves (computed once per setting; the fragment below only looks them up) ----------------------
grid, base = tree_curves(task, settings)
if base is None:
    st.stop()
tables, messages = [base.table], list(base.messages)
if linear:
    slow = compute.estimated_seconds("one_loop", settings.P, len(grid)) > AUTO_SECONDS
    ol_grid = chi_grid(settings.width, N_CHI_SLOW) if slow else grid
    ol = curves(task, settings, ol_grid, ("tree", "one_loop"), label="one loop",
                estimate=compute.estimated_seconds("one_loop", settings.P, len(ol_grid)))
    if ol is not None:
        tables.append(ol.table[ol.table["method"] == "one_loop"])
        messages += list(ol.messages)
else:
    st.info(
        "**Validity (erf/ReLU):** the tree level uses a Gaussian neuron law (docs/theory.md §9) — close to the "
        "networks at χ ≈ N, but not valid at small χ/N; the renormalised kernel u·C0 is the best simple theory "
        "there. **One loop: linear networks only.**",
        icon=":material/info:",
    )
    resc = curves(task, settings, grid, ("rescaled",), label="renormalised kernel",
                  estimate=compute.estimated_seconds("rescaled", settings.P, len(grid), settings.activation))
    if resc is not None:
        tables.append(resc.table)
        messages += list(resc.messages)
table = pd.concat(tables, ignore_index=True)

refs = compute.runs(task, settings)
if not refs.empty:
    refs = refs.drop_duplicates(subset=["method", "chi"], keep="last").sort_values("chi").rename(
        columns={"method": "kind"})
warning_badges(messages, where="theory sweep")
if refs.empty:
    st.caption("Exact-posterior / Langevin points appear here after runs on the **Networks** page.")


def _ref_at(chi: float, col: str):
    """Best reference at χ: an exact-posterior run at this χ, else Langevin, else the one loop."""
    if not refs.empty and col in refs:
        near = refs[np.isclose(refs["chi"], chi, rtol=0.02)]
        for kind in ("exact", "langevin"):
            r = near[near["kind"] == kind]
            if len(r) and np.isfinite(r[col].iloc[-1]):
                return plots.METHOD_STYLE[kind][0], float(r[col].iloc[-1])
    view = compute.TheoryCurves(table, base.sweep, (), 0.0)
    row = view.at("one_loop", chi)
    if row is not None and col in row:
        return "one loop", float(row[col])
    return None, None


@st.fragment
def live_view():
    chi = chi_slider(grid, "reg.chi")
    c1, c2, c3 = st.columns([1, 1, 2])
    split = c1.radio("data set", ["train", "test"], horizontal=True, key="reg.split")
    obs = c2.radio("observable", list(OBSERVABLES), format_func=OBSERVABLES.get, horizontal=True, key="reg.obs")
    col = f"{split}_{obs}"
    view = compute.TheoryCurves(table, base.sweep, (), 0.0)
    ref_name, ref_val = _ref_at(chi, col)
    methods = list(dict.fromkeys(table["method"]))
    cards = st.columns(len(methods) + (1 if ref_name and ref_name != "one loop" else 0))
    for card, m in zip(cards, methods):
        row = view.at(m, chi)
        name = plots.METHOD_STYLE.get(m, (m,))[0]
        if row is None or col not in row or not np.isfinite(row[col]):
            card.metric(name, "–")
            continue
        at = "" if np.isclose(row["chi"], chi) else f" (χ = {row['chi']:g})"
        delta = None
        if ref_val is not None and name != ref_name:
            delta = f"{row[col] - ref_val:+.5f} vs {ref_name}"
        card.metric(f"{name}{at}", f"{row[col]:.5f}", delta=delta, delta_color="off",
                    help=f"{OBSERVABLES[obs]} on the {split} set at χ = {chi:g}")
        if not row.get("converged", True):
            card.badge("not converged", icon=":material/warning:", color="orange")
    if ref_name and ref_name != "one loop":
        cards[-1].metric(f"{ref_name} (reference)", f"{ref_val:.5f}")
    fig = plots.regimes_figure(table, col, chi, refs if not refs.empty else None,
                               ylabel=f"{split} {OBSERVABLES[obs]}")
    st.plotly_chart(fig, key="reg.chart", config={"displaylogo": False})
    out = table.copy()
    if not refs.empty:
        keep = [c for c in refs.columns if c in ("kind", "chi") or c.startswith(("train_", "test_"))]
        out = pd.concat([out, refs[keep].rename(columns={"kind": "method"})], ignore_index=True)
    st.download_button("Download CSV", out.to_csv(index=False).encode(), file_name="mastcore_regimes.csv",
                       mime="text/csv", on_click="ignore", key="reg.download")


live_view()
