"""The shared settings and the pages' view values in session state, and their mirror in the URL (a link reproduces
the view)."""
from __future__ import annotations

import streamlit as st

import mastcore as mc

from .keys import CUSTOM, FIELDS, k, v, w
from .state import DEFAULT_PRESET, PRESETS, VIEW_PARAMS, Settings, parse_query

__all__ = ["apply_preset", "commit", "init_state", "settings_now", "sync_query_params", "view_widget"]


def _matching_preset(values: dict) -> str:
    """The preset whose values ``values`` holds, or CUSTOM."""
    for name, preset in PRESETS.items():
        if all(values.get(f) == val for f, val in preset.items()):
            return name
    return CUSTOM


def init_state() -> None:
    """First run of a session: defaults from the default preset, overridden by the URL's query parameters.

    The URL is parsed defensively (mastcore_dashboard.state.parse_query): bad values give the default and one message
    each, shown in the sidebar; nothing a link holds can raise.
    """
    if st.session_state.get("cfg._init"):
        return
    values = Settings.from_preset(DEFAULT_PRESET).to_dict()
    query = {name: st.query_params.get_all(name) for name in st.query_params}
    from_url, view, chi, bad = parse_query(query, tuple(mc.available_tasks()))
    values.update(from_url)
    for f in FIELDS:
        st.session_state[k(f)] = values[f]
    st.session_state[k("preset")] = _matching_preset(values)
    for name, param in VIEW_PARAMS.items():
        st.session_state[v(name)] = view.get(name, param.default)
    st.session_state[k("chi")] = chi
    st.session_state["cfg._bad_query"] = bad
    st.session_state["cfg._init"] = True


def apply_preset() -> None:
    """on_change of the sidebar's Preset: its values become the settings (χ back to its default)."""
    name = st.session_state[w("preset")]
    st.session_state[k("preset")] = name
    if name in PRESETS:
        for f, val in PRESETS[name].items():
            st.session_state[k(f)] = val
        st.session_state[k("chi")] = None


def commit(name: str) -> None:
    """on_change of a sidebar widget: store its value under the plain key, update the preset label."""
    st.session_state[k(name)] = st.session_state[w(name)]
    st.session_state[k("preset")] = _matching_preset({f: st.session_state.get(k(f)) for f in FIELDS})


def settings_now() -> Settings:
    """The shared settings in session state now (without drawing the sidebar; see sidebar.current_settings)."""
    return Settings(**{f: st.session_state[k(f)] for f in FIELDS})


def sync_query_params(extra: dict | None = None) -> None:
    """Mirror the settings, the current χ and the pages' own controls in the URL: a link reproduces the view.

    View parameters (mastcore_dashboard.state.VIEW_PARAMS) are written when they differ from their defaults and removed
    when they return to them, so that links stay short.
    """
    params = settings_now().to_query()
    chi = st.session_state.get(k("chi"))
    if chi is not None:
        params["chi"] = f"{chi:g}"
    drop = []
    for name, param in VIEW_PARAMS.items():
        val = st.session_state.get(v(name), param.default)
        if val is None or val == param.default:
            drop.append(name)
        else:
            params[name] = param.to_url(val)
    params.update(extra or {})
    current = st.query_params.to_dict()
    changed = {kk: val for kk, val in params.items() if current.get(kk) != val}
    if changed:
        st.query_params.update(changed)
    for name in drop:
        if name in current:
            del st.query_params[name]


def view_widget(widget, label: str, name: str, *, key: str, container=None, **kw):
    """Draw ``widget`` (st.radio, st.number_input, ...) bound to the view value ``v(name)``: its value is kept
    across pages and in the URL. Returns the widget's value."""
    st.session_state[key] = st.session_state.get(v(name), VIEW_PARAMS[name].default)

    def _store():
        st.session_state[v(name)] = st.session_state[key]

    value = getattr(container or st, widget)(label, key=key, on_change=_store, **kw)
    _sync_view(name)  # in this run: a fragment's rerun does not reach the sidebar's sync_query_params
    return value


def _sync_view(name: str) -> None:
    """Write the view value ``v(name)`` into the URL (removed while it is the default), as sync_query_params does."""
    param = VIEW_PARAMS[name]
    val = st.session_state.get(v(name), param.default)
    if val is None or val == param.default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != param.to_url(val):
        st.query_params[name] = param.to_url(val)
