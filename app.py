"""mastcore dashboard: ``streamlit run app.py``.

Only the page setup, the navigation and the shared sidebar live here; the pages are in pages/, their shared
widgets and state in mastcore_dashboard/, and every number comes from mastcore.
"""
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="mastcore — from kernels to features", page_icon=":material/insights:", layout="wide")
# A smaller top margin than Streamlit's (6rem): on a projector (1280 × 720) the Regimes cards and chart then share
# the first screen (tests/test_e2e.py measures it).
st.html("<style>[data-testid='stMainBlockContainer'] { padding-top: 3rem; }</style>")

# The browser loads its chart library (plotly.js, a few MB) on the first chart it meets. An invisible
# chart (ten pixels high) drawn first lets it load while the server imports mastcore and computes the first curves (a cold first
# load is then about a second and a half shorter); it is removed before the page is drawn.
if not st.session_state.get("app._prefetched"):
    _prefetch = st.empty()
    _prefetch.plotly_chart(go.Figure(layout=dict(height=10, margin=dict(l=0, r=0, t=0, b=0))),
                           config={"staticPlot": True, "displayModeBar": False}, key="app.prefetch")
    st.session_state["app._prefetched"] = True
else:
    _prefetch = None

from mastcore_dashboard.navigation import pages  # noqa: E402  (after the prefetch: these imports take a second or two)
from mastcore_dashboard.sidebar import sidebar  # noqa: E402

page = st.navigation(pages())
sidebar()
if _prefetch is not None:
    _prefetch.empty()
page.run()
