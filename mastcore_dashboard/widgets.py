"""The Streamlit parts shared by the pages, under one name (each lives in a module named for what it holds):

- :mod:`~mastcore_dashboard.keys` session-state keys; :mod:`~mastcore_dashboard.url_state` settings and view values in
  session state and the URL; :mod:`~mastcore_dashboard.sidebar` the shared sidebar and ``current_settings``;
  :mod:`~mastcore_dashboard.tour` the guided tour;
- :mod:`~mastcore_dashboard.runs` the memo and long computations (budget, button, progress, Cancel);
  :mod:`~mastcore_dashboard.jobs` background jobs (Pause, Resume, Cancel); :mod:`~mastcore_dashboard.curves` theory
  curves; :mod:`~mastcore_dashboard.task_data` the task and the uploaded data; :mod:`~mastcore_dashboard.notices`
  errors and solver warnings;
- :mod:`~mastcore_dashboard.chi` the χ sliders; :mod:`~mastcore_dashboard.charts` charts with their exports;
  :mod:`~mastcore_dashboard.header` the page header and Cite; the words are in :mod:`~mastcore_dashboard.prose`.

No maths here: everything is computed by ``mastcore`` through mastcore_dashboard/compute.py.
"""
from __future__ import annotations

from .charts import CHART_CONFIG, chart
from .chi import chi_slider, current_chi, live_chart
from .curves import cached_curves, curves, curves_key, theory_grid, tree_curves
from .header import act_label, cite, page_header
from .jobs import POLL_SECONDS, end_job, job_controls, job_state, poll_job, start_job
from .keys import CUSTOM, FIELDS, k, v, w
from .notices import ADVISORY_SHOWN, show_error, warning_badges
from .runs import (AUTO_SECONDS, DEFAULT_APP_MAX_SECONDS, INLINE_CANCEL_SECONDS, app_max_seconds, digest, fmt_seconds,
                   memo_get, memo_put, memo_run, run_cancellable, take_cancelled)
from .sidebar import HELP, current_settings, sidebar
from .task_data import data_digest, label_warning, read_upload, require_task, uploaded_data
from .tour import TOUR
from .url_state import init_state, sync_query_params, view_widget

__all__ = [
    "ADVISORY_SHOWN", "AUTO_SECONDS", "CHART_CONFIG", "CUSTOM", "DEFAULT_APP_MAX_SECONDS", "FIELDS", "HELP",
    "INLINE_CANCEL_SECONDS", "POLL_SECONDS", "TOUR", "act_label", "app_max_seconds", "cached_curves", "chart",
    "chi_slider", "cite", "current_chi", "current_settings", "curves", "curves_key", "data_digest", "digest", "end_job",
    "fmt_seconds", "init_state", "job_controls", "job_state", "k", "label_warning", "live_chart", "memo_get", "memo_put",
    "memo_run", "page_header", "poll_job", "read_upload", "require_task", "run_cancellable", "show_error", "sidebar",
    "start_job", "sync_query_params", "take_cancelled", "theory_grid", "tree_curves", "uploaded_data", "v",
    "view_widget", "w", "warning_badges",
]
