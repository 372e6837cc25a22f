"""χ: the server's log-scale slider, shared across pages and the URL, and the charts' own slider that moves in the
browser (a small component reports the χ where it is released)."""
from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from .charts import chart
from .keys import k

__all__ = ["chi_slider", "current_chi", "live_chart"]


def _nearest(grid, chi) -> float:
    grid = np.asarray(grid, dtype=float)
    return float(grid[int(np.argmin(np.abs(np.log(grid) - np.log(max(float(chi), 1e-12)))))])


def current_chi(grid) -> float:
    """The shared χ snapped to ``grid`` (default: √N, the geometric middle of 1 … N)."""
    cur = st.session_state.get(k("chi"))
    return _nearest(grid, float(np.sqrt(grid[-1])) if cur is None else cur)


def chi_slider(grid, key: str, *, label: str = "χ  (log scale: 1 = standard scaling … N = mean field)",
               help: str | None = None) -> float:
    """A log-scale χ slider over ``grid`` that shares the current χ across pages and the URL (keyboard-friendly;
    the charts also carry their own slider that moves in the browser, see :func:`live_chart`)."""
    grid = [float(g) for g in grid]
    want = current_chi(grid)
    # only when χ changed elsewhere (another page, the chart's slider, a link): writing a widget's state sends the
    # value to the browser, which would overwrite a key press made while this run was going on
    if st.session_state.get(key) != want:
        st.session_state[key] = want

    def _sync():
        st.session_state[k("chi")] = float(st.session_state[key])

    st.select_slider(label, options=grid, key=key, format_func=lambda val: f"{val:g}", on_change=_sync,
                     help=help or "χ sets how strongly the hidden layer may adapt: 1 = standard scaling (a fixed "
                                  "kernel as N → ∞), N = mean-field scaling (features are learned). "
                                  "docs/theory.md §1.2")
    chi = float(st.session_state[key])
    st.session_state[k("chi")] = chi
    if st.query_params.get("chi") != f"{chi:g}":
        st.query_params["chi"] = f"{chi:g}"
    return chi


#: Listens to the plotly slider of a chart (found by its layout.meta) and reports the χ where it is released.
#: Plotly moves the marker and the readout itself, in the browser, while the slider is dragged; the server only
#: hears the final value (one rerun per release).
_LISTENER_JS = """
export default function(component) {
  const { data, setStateValue } = component;
  const meta = data && data.meta;
  // this mount's own handler: a remounted component (a rerun may mount a new one) must replace the handler of the
  // one before it, whose setStateValue no longer reaches the server
  const handler = (e) => {
    const value = e && e.step ? parseFloat(e.step.value) : NaN;
    if (Number.isFinite(value)) setStateValue('chi', value);
  };
  function attach() {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      if (!gd.layout || gd.layout.meta !== meta || typeof gd.on !== 'function') continue;
      const ev = gd._ev;
      if (gd.__mcChiHandler === handler && ev && ev.listeners && ev.listeners('plotly_sliderend').includes(handler)) {
        return;
      }
      if (gd.__mcChiHandler && typeof gd.removeListener === 'function') {
        gd.removeListener('plotly_sliderend', gd.__mcChiHandler);
      }
      gd.__mcChiHandler = handler;
      gd.on('plotly_sliderend', handler);
      return;
    }
  }
  attach();
  const timer = setInterval(attach, 250);
  return () => clearInterval(timer);
}
"""

_listener = st.components.v2.component("mastcore_chi_listener", js=_LISTENER_JS, isolate_styles=False)


def _on_live_chi(listen_key: str, grid: tuple) -> None:
    state = st.session_state.get(listen_key) or {}
    chi = state.get("chi") if hasattr(state, "get") else None
    if chi is None or not np.isfinite(chi):
        return
    st.session_state[k("chi")] = _nearest(grid, chi)


def live_chart(fig, *, key: str, grid) -> None:
    """Place a figure that carries its own χ slider (mastcore.plots builders with ``live=True``).

    Dragging that slider moves the χ marker and the readout in the browser (Plotly, no server round trip); when
    it is released, the χ is sent to the server (a small Streamlit component listening to Plotly's
    ``plotly_sliderend``), which stores it as the shared χ, updates the URL and reruns the enclosing fragment.
    """
    chart(fig, key=key)
    _listener(key=f"{key}.listen", data={"meta": fig.layout.meta},
              on_chi_change=functools.partial(_on_live_chi, f"{key}.listen", tuple(float(g) for g in grid)))
