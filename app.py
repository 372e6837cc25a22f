"""mastcore dashboard: ``streamlit run app.py``.

Only the page setup, the navigation and the shared sidebar live here; the pages are in pages/ and call mastcore.
"""
import streamlit as st

from pages.common import sidebar

st.set_page_config(page_title="mastcore — from kernels to features", page_icon=":material/insights:", layout="wide")

PAGES = [
    st.Page("pages/regimes.py", title="Regimes", icon=":material/tune:", default=True),
    st.Page("pages/feature_learning.py", title="Feature learning", icon=":material/blur_on:"),
    st.Page("pages/networks.py", title="Networks", icon=":material/hub:"),
    st.Page("pages/width_scaling.py", title="Width scaling", icon=":material/show_chart:"),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
]

page = st.navigation(PAGES)
sidebar()
page.run()
