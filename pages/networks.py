"""Networks: exact-posterior or Langevin ensembles for the current settings, compared with the theory."""
import numpy as np
import pandas as pd
import streamlit as st

import mastcore as mc
from mastcore_dashboard import compute, prose
from mastcore_dashboard.state import VIEW_PARAMS
from mastcore_dashboard.charts import chart
from mastcore_dashboard.chi import chi_slider
from mastcore_dashboard.curves import curves, theory_grid
from mastcore_dashboard.header import page_header
from mastcore_dashboard.keys import v
from mastcore_dashboard.notices import show_error, warning_badges
from mastcore_dashboard.runs import AUTO_SECONDS, digest, memo_get, memo_put, run_cancellable, take_cancelled
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.task_data import require_task
from mastcore_dashboard.url_state import sync_query_params
from mastcore_dashboard.worker import Call
from mastcore import plots

settings = current_settings()
linear = settings.linear
page_header(prose.NETWORKS_TITLE, settings, prose.NETWORKS_INTRO)
st.markdown(prose.NETWORKS_ABOUT)
task = require_task(settings)
kinds = ["exact", "langevin"] if linear else ["langevin"]
if not linear:
    st.info(prose.NETWORKS_EXACT_POSTERIOR_SAMPLER_LINEAR,
            icon=":material/info:")

grid = theory_grid(settings)
chi = chi_slider(grid, "net.chi")

if st.session_state.get(v("ref")) not in kinds:
    st.session_state[v("ref")] = kinds[0]
st.session_state["net.kind"] = st.session_state[v("ref")]


def _kind_changed():
    st.session_state[v("ref")] = st.session_state["net.kind"]


kind = st.radio("reference", kinds, horizontal=True, key="net.kind", format_func=lambda kk: plots.METHOD_STYLE[kk][0],
                on_change=_kind_changed,
                help=prose.NETWORKS_EXACT_POSTERIOR_WHAT_INFINITELY)

#: The form's fields per reference: (URL name, widget key, label, help).
FIELDS = {
    "exact": (("chains", "net.n_chains", "chains", prose.NETWORKS_INDEPENDENT_MARKOV_CHAINS_THEIR),
              ("sweeps", "net.n_sweeps", "sweeps (incl. burn-in)", "Gibbs sweeps per chain; more = smaller error."),
              ("burn", "net.burn_in", "burn-in sweeps", "Sweeps discarded at the start, before the chains settle."),
              ("rseed", "net.seed", "seed", "Seed of the sampler's random numbers.")),
    "langevin": (("ens", "net.lv.ensemble", "networks in the ensemble",
                  prose.NETWORKS_INDEPENDENT_NETWORKS_TRAINED_SIDE),
                 ("steps", "net.lv.steps", "training steps (incl. burn-in)", "Langevin steps per network."),
                 ("lburn", "net.lv.burn_in", "burn-in steps", "Steps discarded before averaging."),
                 ("lseed", "net.lv.seed", "seed", "Seed of the training noise and initialisation.")),
}
OPTION_NAMES = {"chains": "n_chains", "sweeps": "n_sweeps", "burn": "burn_in", "rseed": "seed", "ens": "ensemble",
                "steps": "steps", "lburn": "burn_in", "lseed": "seed"}

with st.form("net.form"):
    cols = st.columns(4)
    for (name, key, label, hlp), col in zip(FIELDS[kind], cols):
        p = VIEW_PARAMS[name]
        if key not in st.session_state:  # first shown (or back on this page): the value of the view / URL
            st.session_state[key] = int(st.session_state.get(v(name), p.default))
        col.number_input(label, min_value=int(p.lo), max_value=int(p.hi), step=1, key=key, help=hlp)
    submitted = st.form_submit_button("Run", type="primary", key="net.run",
                                      help=prose.NETWORKS_RUNS_CURRENT_LONG_RUNS)

if submitted:  # the form's values go to the view (and so into the URL)
    for name, key, _, _ in FIELDS[kind]:
        st.session_state[v(name)] = int(st.session_state[key])
    sync_query_params()
options = {OPTION_NAMES[name]: int(st.session_state.get(v(name), VIEW_PARAMS[name].default))
           for name, _, _, _ in FIELDS[kind]}


def _show_run(run_chi, run_kind, run_options, result, row, messages):
    """Show this run below (it is picked in "show a run") and keep its solver messages."""
    st.session_state["net.want"] = (run_kind, float(run_chi), dict(run_options))
    st.session_state["net.messages"] = ((run_kind, float(run_chi), tuple(sorted(run_options.items()))), messages)


if take_cancelled("net."):
    st.info("Run cancelled: its worker was stopped.", icon=":material/cancel:")
if submitted:
    if kind == "exact" and options["n_sweeps"] <= options["burn_in"]:
        st.error(prose.NETWORKS_NUMBER_SWEEPS_MUST_LARGER)
        st.stop()
    if kind == "langevin" and options["steps"] <= options["burn_in"]:
        st.error(prose.NETWORKS_NUMBER_STEPS_MUST_LARGER)
        st.stop()
    est = compute.estimate_seconds(settings, (kind,), [chi], options={kind: options}, task=task)
    label = f"{plots.METHOD_STYLE[kind][0]} at χ = {chi:g}"
    key = "net." + digest((task.spec, settings, chi, kind, tuple(sorted(options.items()))))
    with st.status(f"Running {label} …", expanded=True) as status:
        out = run_cancellable(label, Call(compute.reference_run, task, settings, chi, kind, options),
                              estimate_seconds=est, key=key, confirmed=True, container=status,
                              cli=compute.cli_command(settings, [chi], (kind,), {kind: options}),
                              remedy="Lower the " + ("chains or sweeps" if kind == "exact" else
                                                     "networks in the ensemble or training steps")
                                     + " in the form above, or P, N or D in the sidebar")
        if out is None:
            status.update(label=f"{label}: not run", state="error")
        else:
            where = "cached on disk" if out[1].get("stored") else "not stored on disk: see the warning below"
            status.update(label=f"Done in {out[1]['seconds']:.1f} s ({where})", state="complete",
                          expanded=False)
    if out is not None:
        _show_run(chi, kind, options, *out)

# --- runs for these settings (read from the disk cache, so the list always agrees with it) -----------------
runs = compute.runs(task, settings)
st.subheader("Runs for these settings")
if runs.empty:
    st.caption("No runs yet for these settings.")
    st.stop()


def _fmt(val, se=None) -> str:
    """A value (± its s.e.) as text: a theory has no error bar, and an empty cell is empty, never "None"."""
    if val is None or not np.isfinite(val):
        return "–"
    return f"{val:.5f}" + (f" ± {se:.5f}" if se is not None and np.isfinite(se) else "")


def _num(row, col):
    val = row.get(col) if hasattr(row, "get") else None
    return float(val) if val is not None and np.isfinite(float(val)) else None


shown = pd.DataFrame({
    "reference": [plots.METHOD_STYLE.get(m, (m,))[0] for m in runs["method"]],
    "χ": runs["chi"].to_numpy(),
    "train mean(y·Δ) ± s.e.": [_fmt(_num(r, "train_mean_y_delta"), _num(r, "train_mean_y_delta_se"))
                               for _, r in runs.iterrows()],
    "test mean(y·Δ) ± s.e.": [_fmt(_num(r, "test_mean_y_delta"), _num(r, "test_mean_y_delta_se"))
                              for _, r in runs.iterrows()],
    "seconds": [f"{_num(r, 'seconds'):.1f}" if _num(r, "seconds") is not None else "–" for _, r in runs.iterrows()],
    "converged": ["yes" if bool(c) else "no" for c in runs.get("converged", [True] * len(runs))],
}).iloc[::-1]
st.dataframe(shown, hide_index=True)
labels = [f"{plots.METHOD_STYLE.get(r.method, (r.method,))[0]} · χ = {r.chi:g} · run {i + 1}"
          for i, r in enumerate(runs.itertuples())][::-1]
want = st.session_state.pop("net.want", None)
if want is not None:  # a run just made (or loaded from the cache by Run): show it
    newest_first = runs.iloc[::-1].reset_index(drop=True)
    for i, r in newest_first.iterrows():
        if r["method"] == want[0] and np.isclose(r["chi"], want[1]) and dict(r["options"]) == want[2]:
            st.session_state["net.pick"] = labels[i]
            break
if st.session_state.get("net.pick") not in labels:
    st.session_state["net.pick"] = labels[0]
pick = st.selectbox("show a run", labels, key="net.pick", help=prose.NETWORKS_RUNS_STORED_DISK_CACHE)
rec = runs.iloc[::-1].iloc[labels.index(pick)]
run_chi, kind, options = float(rec["chi"]), rec["method"], dict(rec["options"])
load_key = ("net.run", task.spec, settings, kind, run_chi, tuple(sorted(options.items())))
loaded = memo_get(load_key)
if loaded is None:
    try:  # instant: read from the disk cache, never recomputed
        loaded = memo_put(load_key, compute.reference_run(task, settings, run_chi, kind, options,
                                                          cache_mode="only")[:2])
    except mc.cache.CacheMiss:
        st.warning(prose.NETWORKS_RUN_NO_LONGER_DISK,
                   icon=":material/warning:")
        st.stop()
    except (ValueError, RuntimeError, OSError) as exc:
        show_error("The run could not be loaded:", exc)
        st.stop()
result, row = loaded
saved = st.session_state.get("net.messages")
messages = saved[1] if saved and saved[0] == (kind, run_chi, tuple(sorted(options.items()))) else []

TRACE_NAMES = {"mean_y_delta": "train mean(y·Δ) (chain average)", "loss": "training loss (average over networks)"}

st.subheader(f"{pick}: equilibration")
if not row.get("converged", True):
    st.badge("not converged", icon=":material/warning:", color="orange")
warning_badges(messages, where="run")
tr = {TRACE_NAMES.get(n, n): arr for n, arr in compute.traces(result).items()}
methods = compute.theory_methods(settings.activation)
est = compute.estimate_seconds(settings, methods, [run_chi], task=task)
theory_here = curves(task, settings, (run_chi,), methods, label=f"theories at χ = {run_chi:g}",
                     estimate=est if est > AUTO_SECONDS else 0.0)
theory = {}
if theory_here is not None:
    for m in methods:
        trow = theory_here.at(m, run_chi)
        if trow is not None:
            theory[plots.METHOD_STYLE[m][0]] = (trow["train_mean_y_delta"], trow["test_mean_y_delta"])
chart(plots.traces_figure(tr, burn_in=result.trace.burn_in, steps=result.trace.steps,
                          reference={k: val[0] for k, val in theory.items()},
                          reference_on=TRACE_NAMES["mean_y_delta"]), key="net.traces")
rows = [{"method": name, "train mean(y·Δ) ± s.e.": _fmt(val[0]), "test mean(y·Δ) ± s.e.": _fmt(val[1])}
        for name, val in theory.items()]
rows.append({"method": f"{plots.METHOD_STYLE[kind][0]} (this run)",
             "train mean(y·Δ) ± s.e.": _fmt(_num(row, "train_mean_y_delta"), _num(row, "train_mean_y_delta_se")),
             "test mean(y·Δ) ± s.e.": _fmt(_num(row, "test_mean_y_delta"), _num(row, "test_mean_y_delta_se"))})
st.dataframe(pd.DataFrame(rows), hide_index=True)
st.caption(prose.NETWORKS_LOWER_MEAN_Y_PREDICTION)
