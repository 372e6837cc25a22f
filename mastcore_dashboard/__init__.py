"""The dashboard's UI package (beside pages/): settings and URL state, computations through mastcore, widgets.

``state`` holds the settings (no Streamlit), ``compute`` turns settings into library calls (no Streamlit),
``widgets`` and ``navigation`` are the Streamlit parts shared by the page scripts in pages/.
"""
