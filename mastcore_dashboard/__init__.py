"""The dashboard's UI package (beside pages/): settings and URL state, computations through mastcore, widgets.

``state`` holds the settings and ``compute`` turns them into library calls (no Streamlit); the Streamlit parts shared
by the page scripts in pages/ are small modules named for what they hold (``sidebar``, ``url_state``, ``tour``,
``runs``, ``jobs``, ``curves``, ``chi``, ``charts``, ``header``, ...; ``widgets`` gathers them under one name), the
pages' words are in ``prose`` and the pages themselves in ``navigation``.
"""
