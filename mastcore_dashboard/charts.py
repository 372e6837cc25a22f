"""Every chart of the app: plotly figures placed with their exports — PNG from the modebar, SVG from a button (both in
the browser) and the chart's data as CSV."""
from __future__ import annotations

import streamlit as st

from . import export

__all__ = ["CHART_CONFIG", "chart"]


#: Plotly config of every chart: the modebar's camera saves a PNG at twice the screen resolution.
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}

#: The SVG button beside a chart: it finds the chart by its ``layout.meta`` and has Plotly's own download (the
#: modebar camera) save it once as SVG instead of PNG, in the browser (no server round trip, no image library).
_SVG_JS = """
export default function(component) {
  const { data, parentElement } = component;
  const button = parentElement.querySelector('button');
  button.onclick = () => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      if (!gd.layout || gd.layout.meta !== data.meta || !gd._context) continue;
      const camera = gd.querySelector('.modebar-btn[data-title^="Download plot"]');
      if (!camera) return;
      const opts = gd._context.toImageButtonOptions = gd._context.toImageButtonOptions || {};
      const previous = {format: opts.format, scale: opts.scale};
      opts.format = 'svg'; opts.scale = 1;
      try { camera.click(); } finally { opts.format = previous.format; opts.scale = previous.scale; }
      return;
    }
  };
}
"""
_SVG_HTML = '<button class="mc-svg" title="Download the chart as SVG (vector graphics)">SVG</button>'
_SVG_CSS = """
.mc-svg { font: inherit; font-size: 0.875rem; padding: 0.25rem 0.75rem; border-radius: 0.5rem; cursor: pointer;
          border: 1px solid rgba(49, 51, 63, 0.2); background: transparent; color: inherit; }
.mc-svg:hover { border-color: #ff4b4b; color: #ff4b4b; }
"""
_svg_button = st.components.v2.component("mastcore_svg_download", html=_SVG_HTML, js=_SVG_JS, css=_SVG_CSS,
                                         isolate_styles=False)


def _file_stem(key: str) -> str:
    return "mastcore-" + "".join(c if c.isalnum() else "-" for c in key).strip("-")


def chart(fig, *, key: str, container=None, config: dict | None = None) -> None:
    """Place a plotly figure with its exports: PNG (modebar camera), SVG and CSV (its data, long form) below it.

    The one place the app draws a chart (pages call this, not ``st.plotly_chart``). ``container``: where to draw
    (a column, the sidebar; default the page). ``fig.layout.meta`` identifies the chart in the browser; a figure
    without one gets ``mc-chart:<key>``.
    """
    where = st if container is None else container
    if fig.layout.meta is None:
        fig.layout.meta = f"mc-chart:{key}"
    stem = _file_stem(key)
    conf = {**CHART_CONFIG, **(config or {})}
    conf["toImageButtonOptions"] = {**CHART_CONFIG["toImageButtonOptions"], "filename": stem,
                                    **(config or {}).get("toImageButtonOptions", {})}
    where.plotly_chart(fig, key=key, config=conf)
    with where.container(horizontal=True, gap="small"):
        st.download_button("CSV", export.figure_csv(fig), file_name=f"{stem}.csv", mime="text/csv",
                           key=f"{key}.csv", on_click="ignore", icon=":material/download:",
                           help="Download the chart's data (one row per point) as CSV")
        _svg_button(key=f"{key}.svg", data={"meta": fig.layout.meta})
