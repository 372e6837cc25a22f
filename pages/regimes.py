"""Regimes (landing page): slide χ from the kernel regime (χ = 1) to mean field (χ = N)."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mastcore_dashboard import atlas_view, compute, prose, training
from mastcore_dashboard import reference as ref_rule
from mastcore_dashboard import theory_map as tmap
from mastcore_dashboard.state import N_CHI_SLOW, OBSERVABLES, chi_grid
from mastcore_dashboard.charts import chart
from mastcore_dashboard.chi import chi_slider, live_chart
from mastcore_dashboard.curves import cached_curves, curves, curves_key, tree_curves
from mastcore_dashboard.header import page_header
from mastcore_dashboard.notices import warning_badges
from mastcore_dashboard.runs import AUTO_SECONDS, app_max_seconds, memo_get, memo_put
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.task_data import data_digest, label_warning, require_task, uploaded_data
from mastcore_dashboard.url_state import view_widget
from mastcore import plots
from mastcore.cache import CacheMiss
from mastcore.engine import METHODS

settings = current_settings()
linear = settings.linear
methods = compute.theory_methods(settings.activation)
page_header(prose.REGIMES_TITLE, settings, prose.REGIMES_INTRO)
task = require_task(settings)
if label_warning(task.y):  # e.g. an upload with {0, 1} labels: the theories fit them as real numbers
    st.warning(label_warning(task.y), icon=":material/warning:")

# --- theory curves: NNGP and tree level first, the other theories fill in progressively -------------------
grid, base = tree_curves(task, settings)
if base is None:
    st.stop()


def _extra_grid(method: str):
    """The χ grid of a further theory: the full grid, or a coarser one when the full one would be slow."""
    if compute.estimate_seconds(settings, (method,), grid, task=task) > AUTO_SECONDS:
        return chi_grid(settings.width, N_CHI_SLOW)
    return grid


def _ready(method: str):
    """Curves of a further theory already computed — in the memo or the disk cache, on the full grid or the
    coarse one — or None (then they are computed after the chart is drawn)."""
    grids = (grid, chi_grid(settings.width, N_CHI_SLOW))
    for g in grids:
        hit = cached_curves(settings, g, (method,))
        if hit is not None:
            return hit
    for g in grids:
        try:
            return memo_put(curves_key(settings, g, (method,)),
                            compute.theory_curves(task, settings, g, (method,), cache_mode="only"))
        except CacheMiss:
            continue
    return None


# the exact posterior first (linear networks: the reference every theory is judged by, drawn with no click)
extras = [*compute.exact_methods(settings.activation), *(m for m in methods if m not in ("nngp", "tree"))]
ready = {m: _ready(m) for m in extras}
all_curves = [base] + [c for c in ready.values() if c is not None]
table = pd.concat([c.table for c in all_curves], ignore_index=True)
messages = [msg for c in all_curves for msg in c.messages]

training.settle()  # a training job finished since the last run: its run is in the disk cache, listed just below
refs = compute.runs(task, settings)
if not refs.empty:
    refs = refs.drop_duplicates(subset=["method", "chi"], keep="last").sort_values("chi").rename(
        columns={"method": "kind"})
warning_badges(messages, where="theory sweep")
#: What the figures of this page are drawn from (settings, data, which curves on which grid, reference runs).
figures_key = (curves_key(settings, grid, ("nngp", "tree")),
               tuple((m, len(c.table)) for m, c in ready.items() if c is not None),
               None if refs.empty else repr(refs.to_numpy().tolist()))
data_id = data_digest(uploaded_data() if settings.task == "csv" else None)


def _ref_at(chi: float, col: str):
    """Best reference at χ: (label, value, is a run). The exact posterior's curve (linear networks) where it has this
    χ, else an exact-posterior run at this χ, else Langevin, else the one loop."""
    exact = compute.TheoryCurves(table, base.sweep, (), 0.0).at(ref_rule.EXACT_METHOD, chi)
    if exact is not None and np.isclose(exact["chi"], chi) and np.isfinite(exact.get(col, np.nan)):
        return plots.METHOD_STYLE[ref_rule.EXACT_METHOD][0], float(exact[col]), False
    if not refs.empty and col in refs:
        near = refs[np.isclose(refs["chi"], chi, rtol=0.02)]
        for kind in ("exact", "langevin"):
            r = near[near["kind"] == kind]
            if len(r) and np.isfinite(r[col].iloc[-1]):
                return plots.METHOD_STYLE[kind][0], float(r[col].iloc[-1]), True
    view = compute.TheoryCurves(table, base.sweep, (), 0.0)
    row = view.at("one_loop", chi)
    if row is not None and col in row:
        return "one loop", float(row[col]), False
    return None, None, False


#: Names of the references in the cards' "± vs …" line (the card is narrow).
SHORT = {plots.METHOD_STYLE["quadrature"][0]: "exact", plots.METHOD_STYLE["exact"][0]: "Gibbs",
         plots.METHOD_STYLE["langevin"][0]: "Langevin"}


def _name(method: str) -> str:
    return plots.METHOD_STYLE.get(method, (method,))[0]


def _recommend(chi: float, col: str, slot) -> None:
    """Name the most accurate theory among the drawn curves at this χ: on linear networks the one closest to the
    exact posterior's curve (the reference), otherwise mastcore.validity's choice (docs/theory.md §18) when it is
    drawn."""
    view = compute.TheoryCurves(table, base.sweep, (), 0.0)
    drawn = list(dict.fromkeys(table["method"]))
    exact = view.at(ref_rule.EXACT_METHOD, chi)
    if exact is not None and np.isclose(exact["chi"], chi) and np.isfinite(exact.get(col, np.nan)):
        values = {m: (view.at(m, chi) or {}).get(col) for m in drawn}
        values = {m: val for m, val in values.items() if np.isclose((view.at(m, chi) or {}).get("chi", 0.0), chi)}
        close = ref_rule.closest_theory(values, float(exact[col]))
        slot.success(prose.regimes_reference(chi, _name(ref_rule.EXACT_METHOD),
                                             None if close is None else (_name(close[0]), close[1]), float(exact[col])),
                     icon=":material/verified:")
        return
    pending = [m for m in extras if ready[m] is None]  # drawn once computed (after this run)
    if ref_rule.EXACT_METHOD in pending:
        slot.caption(f"The {_name(ref_rule.EXACT_METHOD)}, the reference of this chart, is being computed …")
        return
    data = uploaded_data() if settings.task == "csv" else None
    key = ("recommend", settings, float(chi), data_digest(data))
    rec = memo_get(key)
    if rec is None:
        try:
            rec = memo_put(key, tmap.recommendation(settings, chi, data=data, saddle_seconds=AUTO_SECONDS))
        except (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError):
            slot.caption("The most accurate theory could not be determined at this setting.")
            return
    method = ref_rule.drawn_method(rec, drawn, settings.activation)
    reason = f"{rec['reason'][:1].upper()}{rec['reason'][1:]}."
    coming = ref_rule.drawn_method(rec, drawn + pending, settings.activation) if method is None else None
    if coming is not None:
        g = _extra_grid(coming)
        runs_now = compute.estimate_seconds(settings, (coming,), g, task=task) <= app_max_seconds()
        slot.caption(prose.regimes_coming(_name(coming), runs_now))
        return
    if method is None:  # the most accurate theory has no curve here: name none of the drawn ones
        slot.warning(prose.regimes_none_accurate(chi, reason), icon=":material/report:")
        return
    text = prose.regimes_recommended(chi, _name(method), rec.get("label"), rec["trustworthy"], reason)
    (slot.success if rec["trustworthy"] else slot.warning)(text, icon=":material/verified:" if rec["trustworthy"]
                                                            else ":material/report:")


# while networks train here the chart's fragment polls their worker (their point moves after each block)
st.session_state["reg.train.polling"] = polling = training.active()


@st.fragment(run_every=training.POLL_SECONDS if polling else None)
def live_view():
    if training.settle() or training.active() != polling:  # finished or cancelled: the whole page, without polling
        st.rerun()  # (first: its notice is shown by that run)
    # one row for χ and the two choices, the cards, then the chart: on a projector (1280 × 720) the cards and the
    # chart share the first screen (tests/test_e2e.py measures it); the explanations follow the chart
    c0, c1, c2 = st.columns([5, 2, 2.4], vertical_alignment="bottom")
    with c0:
        chi = chi_slider(grid, "reg.chi")
    split = view_widget("radio", "data set", "split", key="reg.split", container=c1, options=["train", "test"],
                        horizontal=True, help=prose.REGIMES_SPLIT_HELP)
    obs = view_widget("radio", "observable", "obs", key="reg.obs", container=c2, options=list(OBSERVABLES),
                      format_func=OBSERVABLES.get, horizontal=True,
                      help=prose.REGIMES_OBS_HELP)
    col = f"{split}_{obs}"
    view = compute.TheoryCurves(table, base.sweep, (), 0.0)
    ref_name, ref_val, ref_run = _ref_at(chi, col)
    shown = sorted(dict.fromkeys(table["method"]), key=lambda m: m == ref_rule.EXACT_METHOD)  # the reference last
    cards = st.columns(len(shown) + (1 if ref_run else 0))
    for card, m in zip(cards, shown):
        row = view.at(m, chi)
        name = plots.METHOD_STYLE.get(m, (m,))[0]
        if row is None or col not in row or not np.isfinite(row[col]):
            card.metric(name, "–")
            continue
        at = "" if np.isclose(row["chi"], chi) else f" (χ = {row['chi']:g})"
        delta = None
        if ref_val is not None and name != ref_name:
            gap = row[col] - ref_val
            delta = (f"{gap:+.1e}" if 0 < abs(gap) < 1e-4 else f"{gap:+.5f}") + f" vs {SHORT.get(ref_name, ref_name)}"
        card.metric(f"{name}{at}", f"{row[col]:.5f}", delta=delta, delta_color="off",
                    help=f"{OBSERVABLES[obs]} on the {split} set at χ = {chi:g}; lower is better")
        if not row.get("converged", True):
            card.badge("not converged", icon=":material/warning:", color="orange")
    if ref_run:
        cards[-1].metric(f"{ref_name} (reference)", f"{ref_val:.5f}")
    # figures are shared by the sessions of the server (memo): building one is most of a χ move's server time
    fig_key = ("fig.regimes", figures_key, col, chi)
    fig = memo_get(fig_key)
    if fig is None:
        fig = plots.regimes_figure(table, col, chi, refs if not refs.empty else None,
                                   ylabel=f"{split} {OBSERVABLES[obs]}  (lower is better)", live=True, meta="mc-regimes")
        fig.add_traces(atlas_view.regimes_traces(settings, split, obs))  # trained networks at the presets, no click
        fig = memo_put(fig_key, fig)
    if (point := training.point_trace(settings, data_id, col)) is not None:  # networks training here, so far
        fig = go.Figure(fig)  # a copy: the memo's figure is shared by every session
        fig.add_trace(point)
    live_chart(fig, key="reg.chart", grid=grid)
    best = st.empty()  # filled last: the cards and the chart reach the browser first
    if refs.empty and atlas_view.atlas_for(settings) is not None:
        st.caption(prose.REGIMES_RUNS_APPEAR.format(sampler="Gibbs-sampler" if linear else "Langevin"))
    with st.expander("What am I looking at?", key="reg.about.open", on_change="rerun") as about:
        if about.open:  # (drawn only while open)
            st.markdown(prose.regimes_about(methods, linear))
    if note := atlas_view.caption(settings):
        st.caption(note)
    training.notice()
    training.panel(settings, data_id, col, lambda at: {m: float(r[col]) for m in shown if (r := view.at(m, at)) is not
                                                       None and col in r and np.isclose(r["chi"], at)
                                                       and np.isfinite(r[col])})
    st.caption((prose.REGIMES_EXACT_CAPTION if ref_rule.EXACT_METHOD in shown else "") + prose.REGIMES_DRAG_CAPTION)
    csv_key = ("csv.regimes", figures_key)  # the same for every χ: made once, shared
    csv = memo_get(csv_key)
    if csv is None:
        out = table.copy()
        if not refs.empty:
            keep = [c for c in refs.columns if c in ("kind", "chi") or c.startswith(("train_", "test_"))]
            out = pd.concat([out, refs[keep].rename(columns={"kind": "method"})], ignore_index=True)
        csv = memo_put(csv_key, out.to_csv(index=False).encode())
    st.download_button("Download CSV", csv, file_name="mastcore_regimes.csv", mime="text/csv", on_click="ignore",
                       key="reg.download")
    # drawn only while open (a few hundred kB of points the browser would otherwise draw on every first paint)
    with st.expander(prose.REGIMES_PREDICTIONS, key="reg.pred.open", on_change="rerun") as pred_box:
        if pred_box.open:
            pred_key = ("fig.predictions", figures_key, chi)
            pred_fig = memo_get(pred_key)
            if pred_fig is None:
                preds = pd.concat([compute.predictions(task, c, chi) for c in all_curves], ignore_index=True)
                preds = preds.drop_duplicates(subset=["method", "split", "index"])
                pred_fig = memo_put(pred_key, plots.predictions_figure(preds))
            chart(pred_fig, key="reg.pred")
        st.caption(prose.REGIMES_PREDICTIONS_CAPTION)
    _recommend(chi, col, best)


live_view()
if not linear:  # under the chart: on a projector the cards and the chart come first
    st.info(prose.regimes_validity(methods), icon=":material/info:")
training.offer(task, settings, grid, refs, data_id)  # "Train networks here": its click reruns the page

# --- the other theories, after the chart is on screen -------------------------------------------------------
computed = False
for m in extras:
    if ready[m] is not None:
        continue
    g = _extra_grid(m)
    label = METHODS[m].label
    if g is not grid:
        label += f" ({len(g)} χ values)"
    # no button within the app's budget: the chart is on screen, this runs in the worker with progress and Cancel
    # (the erf/ReLU one loop, the most accurate theory the page names, takes 5–60 s at the presets; cached after)
    got = curves(task, settings, g, (m,), label=label, auto_seconds=app_max_seconds())
    # draw it on the chart with one more run (when the memo kept it; very large results are not kept)
    computed = computed or (got is not None and cached_curves(settings, g, (m,)) is not None)
if computed:
    st.rerun()
