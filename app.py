"""mastcore dashboard: ``streamlit run app.py``.

Only the page setup, the navigation and the shared sidebar live here; the pages are in pages/, their shared
widgets and state in dashboard/, and every number comes from mastcore.
"""
import streamlit as st

from dashboard.navigation import pages
from dashboard.widgets import sidebar

st.set_page_config(page_title="mastcore — from kernels to features", page_icon=":material/insights:", layout="wide")

page = st.navigation(pages())
sidebar()
page.run()
