"""Width scaling: where the saddle point suffices (χ = N) and where the one loop is needed (χ = 1)."""
import streamlit as st

from mastcore_dashboard import compute, prose
from mastcore_dashboard.state import VIEW_PARAMS, WIDTH_CHOICES, default_widths
from mastcore_dashboard.charts import chart
from mastcore_dashboard.header import page_header
from mastcore_dashboard.keys import v
from mastcore_dashboard.notices import show_error
from mastcore_dashboard.runs import AUTO_SECONDS, digest, memo_get, memo_put, run_cancellable
from mastcore_dashboard.sidebar import current_settings
from mastcore_dashboard.url_state import view_widget
from mastcore_dashboard.worker import Call
from mastcore import plots

settings = current_settings()
page_header(prose.WIDTH_TITLE, settings, prose.WIDTH_INTRO)
st.markdown(prose.WIDTH_ABOUT)
if not settings.linear:
    st.warning(prose.WIDTH_EXACT_POSTERIOR_EXISTS_LINEAR,
               icon=":material/warning:")
    st.stop()


def _bound(name: str, key: str, fallback):
    """Widget ``key`` shows the view value ``v(name)``; while that is None (P and D: "the sidebar's") it follows
    ``fallback`` on every run."""
    val = st.session_state.get(v(name))
    if val is None:
        st.session_state[key] = fallback
    elif key not in st.session_state:
        st.session_state[key] = list(val) if isinstance(val, tuple) else val


def _store(name: str, key: str, default=None):
    """on_change: the widget's value into the view (None when it equals ``default``, i.e. "the sidebar's")."""
    def cb():
        val = st.session_state[key]
        if isinstance(val, list):
            val = tuple(sorted(val))
        st.session_state[v(name)] = None if default is not None and val == default else val
    return cb


c = st.columns([1, 1, 4])
_bound("wsP", "ws.P", settings.P)
_bound("wsD", "ws.D", settings.D)
P_now = int(st.session_state.get(v("wsP")) or settings.P)
_bound("widths", "ws.widths", list(default_widths(P_now)))
_bound("wssweeps", "ws.sweeps", VIEW_PARAMS["wssweeps"].default)
_bound("wschains", "ws.chains", VIEW_PARAMS["wschains"].default)
P = c[0].number_input("P", 1, 5000, key="ws.P", on_change=_store("wsP", "ws.P", settings.P),
                      help="Training points of this scan (default: the sidebar's P).")
D = c[1].number_input("D", 1, 5000, key="ws.D", on_change=_store("wsD", "ws.D", settings.D),
                      help="Input dimension of this scan (default: the sidebar's D).")
widths = c[2].multiselect("widths N", list(WIDTH_CHOICES), key="ws.widths",
                          on_change=_store("widths", "ws.widths", tuple(default_widths(P_now))),
                          help=prose.WIDTH_WIDTHS_COMPARE_DEFAULT_FROM)
c = st.columns([2, 1, 1])
reference = view_widget("radio", "reference", "wsref", key="ws.ref", container=c[0], horizontal=True,
                        options=["quadrature", "exact"],
                        format_func={"quadrature": "exact posterior by quadrature (exact, at once)",
                                     "exact": "Gibbs sampler (noise floor; press Compute)"}.get,
                        help=prose.WIDTH_BOTH_EXACT_POSTERIOR_LINEAR)
gibbs = reference == "exact"
sweeps = c[1].number_input("Gibbs sweeps", 50, 100000, step=100, key="ws.sweeps",
                           on_change=_store("wssweeps", "ws.sweeps"), disabled=not gibbs,
                           help=prose.WIDTH_SWEEPS_EXACT_SAMPLER_PER)
chains = c[2].number_input("chains", 2, 1024, step=8, key="ws.chains", on_change=_store("wschains", "ws.chains"),
                           disabled=not gibbs, help="Independent chains of the exact sampler.")
st.caption(prose.width_scan(int(P), int(D), settings.P, settings.D, widths))
if not widths:
    st.error("Choose at least one width N.")
    st.stop()
small = settings.replace(P=int(P), D=int(D), P_test=max(1, settings.P_test))
try:
    task = compute.build_task(small)
except ValueError as exc:
    show_error("These settings cannot be used:", exc)
    st.stop()
methods = ("nngp", "tree", "one_loop")
opts = dict(n_chains=int(chains), n_sweeps=int(sweeps), burn_in=min(100, int(sweeps) // 4), seed=0)
key = ("width_scaling", small, tuple(sorted(widths)), methods, reference,
       tuple(sorted(opts.items())) if gibbs else ())
df = memo_get(key)
est = compute.width_scaling_seconds(small, sorted(widths), methods, opts, reference=reference)
at_once = not gibbs and est <= AUTO_SECONDS  # the quadrature: no click
clicked = False
if not at_once:
    clicked = st.button(("Compute" if df is None else "Recompute") + f" (about {est:.0f} s)" if est >= 1 else
                        ("Compute" if df is None else "Recompute"), type="primary", key="ws.run",
                        help=prose.WIDTH_RUNS_THEORIES_REFERENCE_EVERY)
cli = "; ".join(compute.cli_command(small.replace(width=int(n)), [1, int(n)], (*methods, reference),
                                    {"exact": opts} if gibbs else None, out=f"out/width_N{n}")
                for n in sorted(widths))
if (df is None and at_once) or clicked or st.session_state.get(f"run.ws.{digest(key)}.request"):
    out = run_cancellable("width scan", Call(compute.width_scaling, task, small, sorted(widths), methods=methods,
                                             exact_options=opts, reference=reference),
                          estimate_seconds=est, key=f"ws.{digest(key)}", confirmed=clicked, cli=cli,
                          remedy="Choose fewer or smaller widths" + (", fewer sweeps or chains" if gibbs else ""))
    if out is not None:
        df = memo_put(key, out)
if df is None:
    st.info("Press **Compute** to run the scan (cached afterwards).", icon=":material/play_arrow:")
    st.stop()
chart(plots.width_scaling_figure(df), key="ws.fig")
st.dataframe(plots.width_scaling_table(df), hide_index=True)
