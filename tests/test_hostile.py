"""Hostile links and uploads through Streamlit's AppTest: every bad URL value gives the default and one warning
naming the parameter, user text is shown as a code span (never markdown or a live link), nothing raises; the app
refuses work beyond its budget with the command line that runs it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import numpy as np

from mastcore_dashboard.state import DEFAULT_PRESET, PRESETS, chi_grid

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 240
DEFAULTS = PRESETS[DEFAULT_PRESET]
EVIL_TASK = "[Session expired: click](https://evil.example/login)"
_GRID = chi_grid(DEFAULTS["width"])
#: The Regimes page's χ without a valid one in the URL: the grid point nearest to √N.
DEFAULT_CHI = float(_GRID[np.argmin(np.abs(np.log(_GRID) - 0.5 * np.log(DEFAULTS["width"])))])

#: (query, parameter named in the warning, session key, expected value after parsing)
LINKS = [
    ({"P": "inf"}, "'P'", "cfg.P", DEFAULTS["P"]),
    ({"P": "-5"}, "'P'", "cfg.P", DEFAULTS["P"]),
    ({"P": "2.5"}, "'P'", "cfg.P", DEFAULTS["P"]),
    ({"P": "lots"}, "'P'", "cfg.P", DEFAULTS["P"]),
    ({"N": "1e400"}, "'N'", "cfg.width", DEFAULTS["width"]),
    ({"Ptest": "-inf"}, "'Ptest'", "cfg.P_test", DEFAULTS["P_test"]),
    ({"kappa0": "nan"}, "'kappa0'", "cfg.kappa0", DEFAULTS["kappa0"]),
    ({"gv": "inf"}, "'gv'", "cfg.g_v", DEFAULTS["g_v"]),
    ({"gw": "1e308"}, "'gw'", "cfg.g_w", 1e6),  # finite but beyond the sidebar's range: clipped
    ({"seed": "-1"}, "'seed'", "cfg.seed", DEFAULTS["seed"]),
    ({"p": "0.9"}, "'p'", "cfg.p", 0.5),
    ({"act": "foo"}, "'act'", "cfg.activation", "linear"),
    ({"ansatz": "particles"}, "'ansatz'", "cfg.ansatz", "gaussian"),
    ({"task": EVIL_TASK}, "'task'", "cfg.task", "ising"),
    ({"task": "<script>alert(1)</script>"}, "'task'", "cfg.task", "ising"),
    ({"chi": "1e308"}, "'chi'", "cfg.chi", DEFAULT_CHI),
    ({"chi": "-3"}, "'chi'", "cfg.chi", DEFAULT_CHI),
    ({"split": "validation"}, "'split'", "view.split", "train"),
    ({"obs": "**bold**"}, "'obs'", "view.obs", "mean_y_delta"),
    ({"chains": "-4"}, "'chains'", "view.chains", 32),
    ({"widths": "8,abc"}, "'widths'", "view.widths", None),  # None: the widths bracketing P
    ({"lcP": "0,-1"}, "'lcP'", "view.lcP", None),
    ({"foo": "bar"}, "foo", None, None),
    ({"[x](https://evil.example)": "1"}, "https://evil.example", None, None),
]


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    d = tmp_path_factory.getbasetemp() / "hostile_cache"
    d.mkdir(exist_ok=True)
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(d))


def _app(query: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = dict(query)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def _markdown_texts(at) -> list[str]:
    """Every markdown source the app sent: warnings, errors, infos, markdown, captions (sidebar included)."""
    out = []
    for kind in ("warning", "error", "info", "success", "markdown", "caption"):
        out += [e.value for e in getattr(at, kind)]
    return out


def _outside_code_spans(text: str) -> str:
    """``text`` with its inline code spans removed (CommonMark: a run of n backticks closes a run of n)."""
    return re.sub(r"(`+)(.+?)\1", "", text, flags=re.S)


def _assert_no_live_link(at, needle: str) -> None:
    for text in _markdown_texts(at):
        assert needle not in _outside_code_spans(text), f"user text outside a code span: {text!r}"


@pytest.mark.parametrize("query, named, key, expected", LINKS, ids=[next(iter(q)) + "=" + next(iter(q.values()))[:20]
                                                                      for q, *_ in LINKS])
def test_hostile_link_gives_default_and_one_warning(query, named, key, expected):
    at = _app(query)
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 1, warnings
    lines = [line for line in warnings[0].splitlines() if line.startswith("- ")]
    assert len(lines) == 1 and named in lines[0], lines  # one message, naming the parameter
    raw = next(iter(query.values())) if key is not None else next(iter(query))
    if len(raw) > 1:  # the user's text is quoted as a code span, never as markdown
        assert re.search(r"`+ ?" + re.escape(raw[:30]), lines[0]), lines[0]
    if key is not None:
        assert at.session_state[key] == expected
    _assert_no_live_link(at, "https://evil.example")
    assert at.title and "Regimes" in at.title[0].value  # the page is drawn, sidebar and all
    assert at.sidebar.number_input  # the sidebar is there (it used to vanish after a traceback)


def test_markdown_link_in_task_is_shown_as_text():
    at = _app({"task": EVIL_TASK})
    text = at.sidebar.warning[0].value
    assert f"`{EVIL_TASK}`" in text
    _assert_no_live_link(at, "](https://evil.example/login)")


def test_many_hostile_values_together_on_every_page():
    query = {"P": "inf", "N": "1e400", "Ptest": "-inf", "act": "foo", "chi": "1e308", "task": EVIL_TASK,
             "split": "x", "obs": "y", "widths": "z", "foo": "bar", "kappa0": "nan", "gv": "-2"}
    for page in ("pages/regimes.py", "pages/feature_learning.py", "pages/networks.py", "pages/width_scaling.py",
                 "pages/learning_curves.py", "pages/data.py", "pages/glossary.py"):
        at = _app(query, page=page)
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])  # every value fell back to a usable default
        text = at.sidebar.warning[0].value
        for name in ("'P'", "'N'", "'Ptest'", "'act'", "'chi'", "'task'", "'split'", "'obs'", "'widths'", "foo"):
            assert name in text, (page, name)
        _assert_no_live_link(at, "https://evil.example")


def test_repeated_parameter_uses_the_last_value():
    at = _app({"P": ["5", "inf"]})
    assert at.session_state["cfg.P"] == DEFAULTS["P"] and "'P'" in at.sidebar.warning[0].value


def test_huge_link_is_refused_before_allocating():
    # P = 5000, P* = 20000, D = 5000 would hold about 1 GB of inputs (3 GB while drawing them): not built
    for page in ("pages/regimes.py", "pages/data.py", "pages/learning_curves.py"):
        at = _app({"P": "5000", "Ptest": "20000", "D": "5000", "seed": "7"}, page=page)
        assert not at.exception
        assert at.error and "too large" in at.error[0].value, page
        assert not at.sidebar.warning  # valid values: no URL warning, the page explains instead
    at = _app({"P": "5000", "Ptest": "20000", "D": "5000"})
    assert any("python -m mastcore sweep" in c.value for c in at.code)


def test_work_beyond_the_time_budget_is_refused_with_the_command_line(monkeypatch):
    monkeypatch.setenv("MASTCORE_APP_MAX_SECONDS", "1e-6")
    at = _app({"P": "24"})
    assert not at.exception
    assert any("MASTCORE_APP_MAX_SECONDS" in w.value for w in at.warning)
    cmd = [c.value for c in at.code if "python -m mastcore sweep" in c.value]
    assert cmd and "--P 24" in cmd[0] and "--methods nngp,tree" in cmd[0]
    assert not at.metric  # nothing computed


def test_tight_memory_limit_gives_no_traceback(monkeypatch):
    """Under a tight MASTCORE_MAX_BYTES the tree curves just fit: looking the one loop up in the cache must not
    raise the budget's error (it computes nothing); the page says what does not fit."""
    # at P = 300 the NNGP and tree-level curves over 25 χ with their error bands are estimated at 113 MiB (measured
    # 117 MiB peak; the band companions are most of it)
    monkeypatch.setenv("MASTCORE_MAX_BYTES", "125M")
    at = _app({"P": "300"})
    assert not at.exception
    assert at.metric  # the theories that fit are shown


def test_csv_with_link_column_names_is_escaped():
    content = ("[click me](https://evil.example),b,label\n" + "\n".join(
        f"{i % 3},{(i * 7) % 5},{1 if i % 2 else -1}" for i in range(30)) + "\n").encode()
    at = _app({}, page="pages/data.py")
    at.file_uploader(key="data.upload").upload("evil.csv", content, "text/csv").run()
    assert not at.exception
    assert at.success and "`[click me](https://evil.example)`" in at.success[0].value
    _assert_no_live_link(at, "](https://evil.example)")


def test_csv_whose_standardisation_would_overflow_is_rejected_naming_the_column():
    content = ("good,huge,label\n" + "\n".join(f"{i},{1e300 * (1 + i)},{1 if i % 2 else -1}" for i in range(30))
               + "\n").encode()
    at = _app({}, page="pages/data.py")
    at.file_uploader(key="data.upload").upload("huge.csv", content, "text/csv").run()
    assert not at.exception
    assert at.error and "cannot be used" in at.error[0].value and "huge" in at.error[0].value
