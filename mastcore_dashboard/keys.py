"""Session-state keys of the dashboard (no widgets here).

Keys are namespaced: ``cfg.*`` shared settings (sidebar), ``view.*`` the pages' own controls that belong in the URL
(mastcore_dashboard.state.VIEW_PARAMS), ``reg.*`` Regimes, ``feat.*`` Feature learning, ``net.*`` Networks, ``ws.*``
Width scaling, ``lc.*`` Learning curves, ``data.*`` Data, ``run.*`` computations, ``tour.*`` the guided tour.
"""
from __future__ import annotations

from .state import Settings

__all__ = ["CUSTOM", "FIELDS", "k", "v", "w"]

#: The Preset selectbox's entry when the settings match no preset.
CUSTOM = "Custom"
#: The names of the shared settings (the fields of mastcore_dashboard.state.Settings).
FIELDS = tuple(Settings.field_types())


def k(name: str) -> str:
    """Session-state key of a shared setting (a plain key: it survives page switches and fragment reruns)."""
    return f"cfg.{name}"


def w(name: str) -> str:
    """Key of the sidebar widget that edits ``k(name)`` (copied from ``k(name)`` before each render)."""
    return f"cfg.w.{name}"


def v(name: str) -> str:
    """Session-state key of a page control that is part of the URL (mastcore_dashboard.state.VIEW_PARAMS)."""
    return f"view.{name}"
