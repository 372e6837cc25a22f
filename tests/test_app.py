"""The dashboard through Streamlit's AppTest: every page, both presets, all activations, errors, URL state."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import mastcore as mc
from mastcore_dashboard import compute
from mastcore_dashboard.navigation import page_files
from mastcore_dashboard.state import DEFAULT_PRESET, N_CHI_SLOW, PRESETS, Settings, chi_grid
from mastcore_dashboard.runs import AUTO_SECONDS
from mastcore import plots

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
#: The app's pages, from its navigation table (the first is the default page).
PAGES = [f"pages/{file}" for file, _, _ in page_files()]
TITLES = {f"pages/{file}": title for file, title, _ in page_files()}
#: The exact posterior's curve (linear networks): its legend and card name.
EXACT = plots.METHOD_STYLE["quadrature"][0]
#: Generous: the first Fig.-2 load computes the theory sweep (tree level + one loop) on a shared 2-core machine.
TIMEOUT = 240


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    # one cache/run index for the whole module (runs made on one page show up on another)
    d = tmp_path_factory.getbasetemp() / "app_cache"
    d.mkdir(exist_ok=True)
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(d))


def _app(query: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params = dict(query)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def _ok(at: AppTest):
    assert not at.exception, [e.value for e in at.exception]


def _titles(at):
    return " ".join(t.value for t in at.title)


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def _plotly(at, key=None):
    charts = at.get("plotly_chart")
    specs = [json.loads(c.proto.spec) for c in charts]
    return specs


def _values(v) -> list:
    """A plotly JSON array as a list (plotly sends numpy arrays as base64 'bdata' with a dtype)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64  # noqa: PLC0415

        import numpy as np  # noqa: PLC0415

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _marker(spec) -> dict:
    """The χ marker trace of a live figure (mastcore.plots marks it with meta "chi-marker")."""
    return next(t for t in spec["data"] if t.get("meta") == "chi-marker")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_at_default(page):
    at = _app(page=page)
    _ok(at)
    assert TITLES[page].split()[0] in _titles(at)
    assert at.session_state["cfg.P"] == PRESETS[DEFAULT_PRESET]["P"]
    assert not at.error


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_at_fig2_preset(page):
    at = _app()
    at.selectbox(key="cfg.w.preset").set_value("Paper Fig. 2").run()
    _ok(at)
    if page != "pages/regimes.py":
        at.switch_page(page).run()
    _ok(at)
    assert at.session_state["cfg.P"] == 80 and at.session_state["cfg.width"] == 100
    assert at.query_params["P"] == "80" and at.query_params["N"] == "100"
    assert TITLES[page].split()[0] in _titles(at)
    assert not at.error


def test_chi_slider_changes_metrics_and_chart():
    at = _app()
    _ok(at)
    before = _metrics(at)
    marker_before = _marker(_plotly(at)[0])["x"]
    slider = at.select_slider(key="reg.chi")
    assert float(slider.value) != float(slider.options[-1])
    slider.set_value(float(slider.options[-1])).run()
    _ok(at)
    after = _metrics(at)
    assert before["NNGP"] == after["NNGP"]  # the NNGP does not depend on χ
    assert before["tree level"] != after["tree level"]
    assert _marker(_plotly(at)[0])["x"] != marker_before
    assert at.query_params["chi"] == f"{float(slider.options[-1]):g}"


def test_toggles_switch_observable_and_split():
    at = _app()
    v0 = _metrics(at)["tree level"]
    at.radio(key="reg.obs").set_value("mean_sq_delta").run()
    v1 = _metrics(at)["tree level"]
    at.radio(key="reg.split").set_value("test").run()
    v2 = _metrics(at)["tree level"]
    _ok(at)
    assert len({v0, v1, v2}) == 3
    assert at.get("download_button")


def test_query_params_restore_settings():
    at = _app({"P": "24", "N": "20", "D": "50", "kappa0": "0.5", "chi": "5", "seed": "3"})
    _ok(at)
    s = at.session_state
    assert (s["cfg.P"], s["cfg.width"], s["cfg.D"], s["cfg.kappa0"], s["cfg.seed"]) == (24, 20, 50, 0.5, 3)
    assert at.number_input(key="cfg.w.P").value == 24
    assert at.selectbox(key="cfg.w.preset").value == "Custom"
    assert abs(float(at.select_slider(key="reg.chi").value) - 5) < 0.6
    assert at.query_params["P"] == "24"


def test_bad_query_value_is_reported_not_raised():
    at = _app({"P": "lots", "p": "0.9"})
    _ok(at)
    texts = " ".join(w.value for w in at.sidebar.warning)
    assert "'P'" in texts and "clipped" in texts


@pytest.mark.parametrize("query, needle", [({"Ptest": "0"}, "P*"), ({"N": "0"}, "N (width)")])
def test_invalid_settings_show_error_with_remedy(query, needle):
    for page in ("pages/regimes.py", "pages/data.py"):
        at = _app(query, page=page)
        _ok(at)
        assert at.error and needle in at.error[0].value and "sidebar" in at.error[0].value


#: An app budget no estimate reaches: tests of the Compute button must not meet the refusal of work above the budget,
#: which a busy machine's calibration can reach (measured: ReLU's one loop estimated at 5.6 min at a load of 10).
NO_REFUSAL_SECONDS = "86400"


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_activation_selector_every_page(activation, monkeypatch):
    monkeypatch.setenv("MASTCORE_APP_MAX_SECONDS", NO_REFUSAL_SECONDS)
    at = _app()
    at.selectbox(key="cfg.w.activation").set_value(activation).run()
    _ok(at)
    info = " ".join(i.value for i in at.info)
    labels = list(_metrics(at))
    if activation in mc.METHODS["one_loop"].activations:  # the one loop for erf/ReLU: drawn, or (slow) offered
        assert "one loop" in labels or any(b.label.startswith("Compute one loop") for b in at.button)
        assert "One loop: linear networks only" not in info
    else:
        assert "One loop: linear networks only" in info
    assert "renormalised kernel" in labels and "tree level" in labels
    for page in PAGES[1:]:
        at.switch_page(page).run()
        _ok(at)
        assert TITLES[page].split()[0] in _titles(at)


BAD_CSV = {
    "text": b"x1,x2,y\n1,2,1\n3,abc,-1\n",
    "nan": b"x1,x2,y\n1,2,1\n3,,-1\n",
    "one column": b"y\n1\n-1\n",
}


@pytest.mark.parametrize("kind", list(BAD_CSV))
def test_bad_upload_shows_error(kind):
    at = _app(page="pages/data.py")
    at.file_uploader(key="data.upload").upload("bad.csv", BAD_CSV[kind], "text/csv").run()
    _ok(at)
    assert at.error and "cannot be used" in at.error[0].value


def test_upload_too_small_for_P_then_use_csv():
    rows = "\n".join(f"{i % 3},{(i * 7) % 5},{1 if i % 2 else -1}" for i in range(20))
    content = ("a,b,label\n" + rows + "\n").encode()
    at = _app(page="pages/data.py")  # default P = 30 > 20 rows
    at.file_uploader(key="data.upload").upload("small.csv", content, "text/csv").run()
    _ok(at)
    assert at.error and "larger than the data" in at.error[0].value
    at.number_input(key="cfg.w.P").set_value(12).run()
    at.file_uploader(key="data.upload").upload("small.csv", content, "text/csv").run()
    assert not at.error
    at.button(key="data.use").click().run()
    _ok(at)
    assert at.session_state["cfg.task"] == "csv"
    at.switch_page("pages/regimes.py").run()
    _ok(at)
    assert "tree level" in _metrics(at)


def test_networks_run_is_cached_and_shown_on_regimes():
    at = _app({"P": "16", "N": "20", "D": "30", "Ptest": "50"}, page="pages/networks.py")
    _ok(at)
    at.radio(key="net.kind").set_value("exact").run()
    at.number_input(key="net.n_chains").set_value(4)
    at.number_input(key="net.n_sweeps").set_value(60)
    at.number_input(key="net.burn_in").set_value(10)
    at.button[0].click().run()  # the form's Run button
    _ok(at)
    assert at.get("status")
    assert at.get("plotly_chart")  # equilibration traces
    assert any(d.value.shape[0] >= 1 for d in at.dataframe)
    at.switch_page("pages/regimes.py").run()
    _ok(at)
    assert any("exact posterior" in label for label in _metrics(at))


def test_width_scaling_computes_the_gibbs_sampler_on_demand():
    at = _app({"P": "10", "D": "20"}, page="pages/width_scaling.py")
    _ok(at)
    at.radio(key="ws.ref").set_value("exact").run()
    _ok(at)
    assert not at.get("plotly_chart")  # the sampler waits for its button
    at.multiselect(key="ws.widths").set_value([8, 16])
    at.number_input(key="ws.sweeps").set_value(100)
    at.number_input(key="ws.chains").set_value(4)
    at.button(key="ws.run").click().run()
    _ok(at)
    assert at.get("plotly_chart")
    df = at.dataframe[0].value
    assert set(df["χ"]) == {"χ = 1", "χ = N"} and set(df["width N"]) == {8, 16}
    assert (df["± s.e. (Gibbs)"] > 0).all()
    assert any(t.get("name") == "exact s.e. (noise floor)" for t in _plotly(at)[0]["data"])


def test_width_scaling_draws_the_exact_posterior_at_once_with_widths_around_P():
    at = _app()
    at.selectbox(key="cfg.w.preset").set_value("Paper Fig. 2").run()
    at.switch_page("pages/width_scaling.py").run()
    _ok(at)
    widths = at.multiselect(key="ws.widths").value
    assert min(widths) < 80 < max(widths)  # the default widths bracket P = 80
    assert any("bracket P = 80" in c.value for c in at.caption)
    spec = _plotly(at)[0]  # no click: the quadrature is the default reference
    df = at.dataframe[0].value
    assert set(df["width N"]) == set(widths)
    words = {spec["layout"]["xaxis"]["title"]["text"], spec["layout"]["yaxis"]["title"]["text"], "χ", "theory"}
    assert words <= set(df.columns)  # the table speaks the chart's words
    assert set(df["theory"]) <= {t.get("name") for t in spec["data"]}
    assert "widths" not in at.query_params  # the default is not written into links


def test_feature_learning_slider_changes_outlier():
    at = _app(page="pages/feature_learning.py")
    before = _metrics(at)["Σ_v outlier / (g_v/D)"]
    sl = at.select_slider(key="feat.chi")
    sl.set_value(float(sl.options[-1])).run()
    _ok(at)
    after = _metrics(at)["Σ_v outlier / (g_v/D)"]
    assert float(after) > float(before) > 1.0


def test_settings_survive_page_switch_and_fragment_reruns():
    at = _app({"P": "20"})
    sl = at.select_slider(key="reg.chi")
    for v in (sl.options[2], sl.options[5], sl.options[8]):
        at.select_slider(key="reg.chi").set_value(float(v)).run()
        _ok(at)
    at.switch_page("pages/data.py").run()
    _ok(at)
    assert at.session_state["cfg.P"] == 20
    at.switch_page("pages/regimes.py").run()
    assert abs(float(at.select_slider(key="reg.chi").value) - float(sl.options[8])) < 1e-9


def test_app_files_do_not_put_maths_in_pages():
    # pages call mastcore; no numerical solver code in the page files (STYLE.md: no maths in pages)
    ui = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mastcore_dashboard").glob("*.py"))
    for page in PAGES + ["app.py", *ui]:
        text = (ROOT / page).read_text()
        for forbidden in ("np.linalg.solve", "np.linalg.inv", "brentq", "cho_factor"):
            assert forbidden not in text, (page, forbidden)
    assert os.path.exists(ROOT / ".streamlit" / "config.toml")


def test_digits_task_shows_samples_and_too_large_P_errors():
    at = _app({"task": "digits", "P": "60", "Ptest": "100", "binary": "even vs odd"}, page="pages/data.py")
    _ok(at)
    assert "Sample digits" in [s.value for s in at.subheader] and not at.error
    at.switch_page("pages/regimes.py").run()
    _ok(at)
    assert "tree level" in _metrics(at)
    at = _app({"task": "digits", "P": "300", "Ptest": "2000"}, page="pages/data.py")
    _ok(at)
    assert at.error and "sidebar" in at.error[0].value


def test_slow_sweep_waits_for_a_button(monkeypatch):
    # ReLU with the non-zero-mean Gaussian ansatz at the Fig.-2 sizes but P = 160: the 9-point tree-level sweep is
    # estimated at ~100 s (more than the chart's own curves start without a click, CHART_AUTO_SECONDS): the page
    # offers a button instead of blocking
    monkeypatch.setenv("MASTCORE_APP_MAX_SECONDS", NO_REFUSAL_SECONDS)
    at = _app({"act": "relu", "ansatz": "gaussian_mean", "P": "160", "Ptest": "1000", "D": "200", "N": "100"})
    _ok(at)
    assert any(b.label.startswith("Compute tree level") for b in at.button)
    assert not at.metric


# --- the renormalised kernel, tooltips, the new pages -------------------------------------------------------

def test_regimes_shows_the_renormalised_kernel_for_linear_networks():
    at = _app()
    _ok(at)
    labels = list(_metrics(at))
    assert {"NNGP", "tree level", "renormalised kernel", "one loop"} <= set(labels)
    names = [t.get("name") for t in _plotly(at)[0]["data"]]
    assert "renormalised kernel" in names and "one loop" in names


def test_every_sidebar_control_has_a_tooltip():
    at = _app()
    controls = [*at.sidebar.selectbox, *at.sidebar.number_input]
    assert len(controls) >= 14
    missing = [c.label for c in controls if not (c.help or "").strip()]
    assert not missing, missing


def test_every_page_starts_with_a_plain_sentence():
    at = _app()
    for page in PAGES:
        at.switch_page(page).run()
        _ok(at)
        first = at.main.markdown[0].value if at.main.markdown else ""
        assert first.startswith("**") and first.count(".") + first.count("?") >= 1, (page, first[:80])


def test_glossary_defines_every_symbol_with_a_pointer_to_the_theory():
    at = _app(page="pages/glossary.py")
    _ok(at)
    assert at.title[0].value == "Glossary"
    text = " ".join(m.value for m in at.markdown)
    for term in ("χ", "N, the width", "P, the training", "D, the input", "κ0", "g_v", "g_w", "NNGP", "tree level",
                 "one loop", "exact posterior", "Langevin networks", "Δ, the discrepancy", "mean(y·Δ)", "mean(Δ²)",
                 "Σ_v", "overlap", "rescaling factor s", "renormalised kernel"):
        assert f"**{term}" in text, term
    assert text.count("docs/theory.md §") >= 20
    assert "Lower is better" in text
    at.text_input(key="gl.filter").set_value("overlap").run()
    assert 1 <= len([m for m in at.markdown if m.value.startswith("**")]) <= 3


def test_learning_curves_page():
    at = _app({"P": "20", "Ptest": "200"}, page="pages/learning_curves.py")
    _ok(at)
    assert at.title[0].value == "Learning curves"
    spec = _plotly(at)[0]
    names = {t.get("name") for t in spec["data"]}
    assert {"NNGP", "tree level", "one loop", "exact posterior (quadrature)"} <= names
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["layout"]["yaxis"]["type"] == "log"
    assert spec["layout"]["xaxis"]["tickvals"][:3] == [5, 10, 20]
    exact = [t for t in spec["data"] if t.get("name") == "exact posterior (quadrature)"]
    assert len(exact) == 2 and _values(exact[0]["x"]) == at.multiselect(key="lc.sizes").value  # train and test
    at.radio(key="lc.obs").set_value("mean_sq_delta").run()
    _ok(at)
    assert at.query_params["lcobs"] == "mean_sq_delta"


def test_data_page_asks_before_a_large_eigendecomposition():
    at = _app({"P": "3000", "Ptest": "100", "D": "20"}, page="pages/data.py")
    _ok(at)
    asked = any(b.label.startswith("Compute the kernel spectrum") for b in at.button)
    refused = any("kernel spectrum" in w.value and "MASTCORE_APP_MAX_SECONDS" in w.value for w in at.warning)
    assert asked or refused  # seconds on this machine (a button), or beyond the budget on a slow one
    assert len(_plotly(at)) == 2  # inputs and label balance; no spectrum until asked
    at = _app(page="pages/data.py")  # P = 20: computed at once
    assert len(_plotly(at)) == 3 and not any(b.label.startswith("Compute") for b in at.button)


def test_tour_sets_the_view():
    at = _app({"P": "33"})
    at.button(key="tour.b2").click().run()
    _ok(at)
    assert "Feature learning" in _titles(at)
    assert at.session_state["cfg.P"] == PRESETS[DEFAULT_PRESET]["P"]
    assert at.session_state["cfg.chi"] == float(PRESETS[DEFAULT_PRESET]["width"])
    assert any("outlier" in i.value for i in at.main.info)  # the step's text above the page, not in the sidebar


def test_tour_says_what_is_on_screen():
    at = _app()
    at.button(key="tour.b0").click().run()
    _ok(at)
    text = " ".join(i.value for i in at.main.info if "Guided tour" in i.value)
    cards = _metrics(at)
    assert "χ = 1" in text and "same place" not in text
    # what step 1 says of the cards is what they show: the tree level below the NNGP, the exact one just above
    assert float(cards["tree level"]) < float(cards["NNGP"]) < float(cards[EXACT])
    at.button(key="tour.next").click().run()
    _ok(at)
    text = " ".join(i.value for i in at.main.info if "Guided tour" in i.value)
    assert float(at.select_slider(key="reg.chi").value) == float(at.select_slider(key="reg.chi").options[-1])
    assert "right end" in text and "towards χ = N" not in text  # χ is already N: no "drag towards χ = N"
    cards = _metrics(at)
    assert float(cards["tree level"]) < 0.6 * float(cards["NNGP"])  # "about half the NNGP's"
    at.button(key="tour.end").click().run()
    assert not [i for i in at.main.info if "Guided tour" in i.value]


# --- a copied URL restores the view (every page) -----------------------------------------------------------

def _reopen(at: AppTest, page: str) -> AppTest:
    """A new session opened with the URL of ``at`` on ``page``."""
    return _app(at.query_params.to_dict() if hasattr(at.query_params, "to_dict") else dict(at.query_params),
                page=page)


def test_url_roundtrip_regimes():
    at = _app({"P": "24", "N": "30", "kappa0": "0.7"})
    at.select_slider(key="reg.chi").set_value(float(at.select_slider(key="reg.chi").options[-3])).run()
    at.radio(key="reg.split").set_value("test").run()
    at.radio(key="reg.obs").set_value("mean_sq_delta").run()
    _ok(at)
    assert at.query_params["split"] == "test" and at.query_params["obs"] == "mean_sq_delta"
    again = _reopen(at, None)
    _ok(again)
    assert again.radio(key="reg.split").value == "test" and again.radio(key="reg.obs").value == "mean_sq_delta"
    assert again.select_slider(key="reg.chi").value == at.select_slider(key="reg.chi").value
    assert _metrics(again) == _metrics(at)  # the same numbers


def test_url_roundtrip_feature_learning():
    at = _app({"P": "16", "D": "40"}, page="pages/feature_learning.py")
    at.select_slider(key="feat.chi").set_value(float(at.select_slider(key="feat.chi").options[4])).run()
    again = _reopen(at, "pages/feature_learning.py")
    _ok(again)
    assert _metrics(again) == _metrics(at)


def test_url_roundtrip_networks_form():
    at = _app({"P": "12", "N": "16", "D": "20", "Ptest": "30"}, page="pages/networks.py")
    at.number_input(key="net.n_chains").set_value(6)
    at.number_input(key="net.n_sweeps").set_value(50)
    at.number_input(key="net.burn_in").set_value(7)
    at.button(key="net.run").click().run()
    _ok(at)
    assert (at.query_params["chains"], at.query_params["sweeps"], at.query_params["burn"]) == ("6", "50", "7")
    again = _reopen(at, "pages/networks.py")
    _ok(again)
    assert [again.number_input(key=k).value for k in ("net.n_chains", "net.n_sweeps", "net.burn_in")] == [6, 50, 7]
    at.radio(key="net.kind").set_value("langevin").run()
    at.number_input(key="net.lv.ensemble").set_value(4)
    at.number_input(key="net.lv.steps").set_value(300)
    at.number_input(key="net.lv.burn_in").set_value(50)
    at.button(key="net.run").click().run()
    _ok(at)
    again = _reopen(at, "pages/networks.py")
    assert again.radio(key="net.kind").value == "langevin"
    assert [again.number_input(key=k).value for k in ("net.lv.ensemble", "net.lv.steps")] == [4, 300]
    labels = [r for r in again.dataframe if "reference" in r.value.columns]
    assert labels and set(labels[0].value["reference"]) == {"exact posterior", "Langevin networks"}


def test_url_roundtrip_width_scaling_form():
    at = _app({"P": "10", "D": "20"}, page="pages/width_scaling.py")
    assert at.number_input(key="ws.P").value == 10 and at.number_input(key="ws.D").value == 20  # the sidebar's
    assert any("the sidebar's values" in c.value for c in at.caption)
    at.number_input(key="ws.P").set_value(8).run()
    at.radio(key="ws.ref").set_value("exact").run()
    at.multiselect(key="ws.widths").set_value([4, 16]).run()
    at.number_input(key="ws.sweeps").set_value(150).run()
    _ok(at)
    assert any("P = 8 and D = 20" in c.value and "sidebar says P = 10" in c.value for c in at.caption)
    again = _reopen(at, "pages/width_scaling.py")
    _ok(again)
    assert again.number_input(key="ws.P").value == 8 and again.number_input(key="ws.D").value == 20
    assert again.multiselect(key="ws.widths").value == [4, 16] and again.number_input(key="ws.sweeps").value == 150
    assert again.radio(key="ws.ref").value == "exact"


def test_url_roundtrip_learning_curves_data_glossary():
    at = _app({"P": "10", "Ptest": "100"}, page="pages/learning_curves.py")
    at.multiselect(key="lc.sizes").set_value([5, 10, 20]).run()
    at.radio(key="lc.obs").set_value("error01").run()
    _ok(at)
    again = _reopen(at, "pages/learning_curves.py")
    assert again.multiselect(key="lc.sizes").value == [5, 10, 20] and again.radio(key="lc.obs").value == "error01"
    for page in ("pages/data.py", "pages/glossary.py"):
        at = _app({"task": "digits", "binary": "even vs odd", "P": "40", "Ptest": "100"}, page=page)
        again = _reopen(at, page)
        _ok(again)
        assert again.session_state["cfg.task"] == "digits" and again.session_state["cfg.binary"] == "even vs odd"
        assert again.selectbox(key="cfg.w.binary").value == "even vs odd"


def test_run_list_agrees_with_the_cache_after_clearing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "own_cache"))
    at = _app({"P": "10", "N": "12", "D": "16", "Ptest": "20", "chains": "4", "sweeps": "40", "burn": "5"},
              page="pages/networks.py")
    at.button(key="net.run").click().run()
    _ok(at)
    assert any(len(d.value) == 1 and "reference" in d.value.columns for d in at.dataframe), \
        [d.value for d in at.dataframe] + [s.label for s in at.get("status")] + [e.value for e in at.error]
    mc.cache.clear_cache()
    at.run()
    _ok(at)
    assert any("No runs yet" in c.value for c in at.caption)  # the list is the cache's
    assert not [b for b in at.button if b.key == "net.load"]
    assert not mc.cache.entries()  # nothing was recomputed unasked
    at.switch_page("pages/regimes.py").run()
    assert not any("reference" in label for label in _metrics(at))


# --- ground truth on every chart ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", list(PRESETS))
def test_linear_regimes_draws_the_exact_posterior_with_no_click(preset):
    at = _app()
    if preset != DEFAULT_PRESET:
        at.selectbox(key="cfg.w.preset").set_value(preset).run()
    _ok(at)
    assert not [b for b in at.button if b.label.startswith("Compute")]  # nothing waits for a click
    spec = _plotly(at)[0]
    exact = [t for t in spec["data"] if t.get("name") == EXACT]
    assert len(exact) == 1 and "exact posterior" in EXACT
    settings = Settings(**PRESETS[preset])
    grid = chi_grid(settings.width)
    fits = compute.estimate_seconds(settings, ("quadrature",), grid) <= AUTO_SECONDS  # the page's own rule
    assert fits or preset != DEFAULT_PRESET
    want = grid if fits else chi_grid(settings.width, N_CHI_SLOW)
    assert _values(exact[0]["x"]) == pytest.approx(list(want))  # every χ of the grid
    others = [(t["line"].get("dash"), t["marker"].get("symbol")) for t in spec["data"]  # curves (not band fills)
              if t.get("meta") != "chi-marker" and t.get("name") != EXACT and "line" in t and "marker" in t]
    assert (exact[0]["line"].get("dash"), exact[0]["marker"].get("symbol")) not in others  # its own style
    assert EXACT in _metrics(at)
    box = " ".join(s.value for s in at.success) + " ".join(w.value for w in at.warning)
    assert "exact posterior" in box and "Reference" in box
    drawn = {t.get("name") for t in spec["data"]}
    named = re.findall(r"Closest theory here: \*\*([^*]+)\*\*", box)
    assert named and set(named) <= drawn  # the box names only a drawn curve
    assert any("infinitely long-trained networks" in c.value for c in at.caption)


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_most_accurate_box_names_only_drawn_curves_for_nonlinear_networks(activation):
    at = _app({"act": activation, "P": "12", "D": "20", "N": "20", "Ptest": "40"})
    _ok(at)
    drawn = {t.get("name") for t in _plotly(at)[0]["data"]}
    for box in [*at.success, *at.warning]:
        m = re.search(r"Most accurate curve at χ = [^:]+: ([^*]+)\*\*", box.value)
        if m:
            assert m.group(1) in drawn, (m.group(1), drawn)


@pytest.mark.parametrize("activation", ["erf", "relu"])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_nonlinear_regimes_draws_the_one_loop_with_no_click(preset, activation, monkeypatch):
    # at both presets the erf/ReLU one loop (the most accurate theory) is drawn without a click, and the "most accurate"
    # box names a drawn curve (the budget is lifted so that a busy machine's calibration cannot refuse the work)
    monkeypatch.setenv("MASTCORE_APP_MAX_SECONDS", NO_REFUSAL_SECONDS)
    at = _app()
    if preset != DEFAULT_PRESET:
        at.selectbox(key="cfg.w.preset").set_value(preset).run()
    at.selectbox(key="cfg.w.activation").set_value(activation).run()
    _ok(at)
    assert not [b.label for b in at.button if b.label.startswith("Compute")]  # nothing waits for a click
    drawn = {t.get("name") for t in _plotly(at)[0]["data"]}
    assert "one loop" in drawn and "one loop" in _metrics(at)
    named = [m.group(1) for box in [*at.success, *at.warning]
             if (m := re.search(r"Most accurate curve at χ = [^:]+: ([^*]+)\*\*", box.value))]
    assert named and set(named) <= drawn, (named, drawn)


def test_view_radio_writes_the_url_in_its_own_run():
    # the Regimes radios live in a fragment: its rerun does not reach the sidebar's URL sync, so the widget must
    # write the URL itself (a script with the radio and no sidebar shows that)
    def script():
        from mastcore_dashboard.url_state import view_widget

        view_widget("radio", "data set", "split", key="t.split", options=["train", "test"])
        view_widget("radio", "observable", "obs", key="t.obs", options=["mean_y_delta", "mean_sq_delta"])

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert "split" not in at.query_params  # the default is not written
    at.radio(key="t.split").set_value("test").run()
    assert at.query_params["split"] == "test"
    at.radio(key="t.obs").set_value("mean_sq_delta").run()
    assert at.query_params["obs"] == "mean_sq_delta"
    at.radio(key="t.split").set_value("train").run()
    assert "split" not in at.query_params


def test_solver_flags_are_shown_as_sentences():
    at = _app()
    at.selectbox(key="cfg.w.preset").set_value("Paper Fig. 2").run()
    _ok(at)
    text = " ".join(e.value for e in [*at.caption, *at.markdown, *at.info, *at.warning])
    assert "width_below_2P" not in text and "one_loop at" not in text
    assert "below twice the number of independent training examples" in text


def test_glossary_shows_p_star_as_written():
    from markdown_it import MarkdownIt  # noqa: PLC0415  (CommonMark, as the browser's renderer)

    at = _app(page="pages/glossary.py")
    entry = next(m.value for m in at.markdown if "the test set size" in m.value)
    html = MarkdownIt().render(entry)
    assert "<strong>P*, the test set size</strong>" in html and "<em>" not in html


def test_theory_map_stars_only_accurate_cells_and_states_the_threshold():
    at = _app(page="pages/theory_map.py")
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    from mastcore_dashboard.theory_map import ACCURACY  # noqa: PLC0415

    assert f"{100 * ACCURACY:g} %" in text and "★" in text
    spec = _plotly(at)[0]
    assert not (spec["layout"].get("title") or {}).get("text")
    limit = float(np.log10(ACCURACY))
    stars = 0
    for trace in spec["data"]:
        z = trace["z"]
        if isinstance(z, dict):  # plotly's binary encoding of a 2-D array
            shape = [int(n) for n in str(z["shape"]).split(",")]
            z = np.reshape(_values(z), shape)
        z, marks = np.asarray(z, dtype=float), np.asarray(trace["text"], dtype=object)
        assert z.shape == marks.shape
        stars += int((marks == "★").sum())
        assert np.all(z[marks == "★"] <= limit + 1e-12)  # a ★ only where the best theory is that accurate
    assert stars >= 1


def test_networks_shows_the_run_it_names_without_none(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "own_cache"))  # only this test's runs
    at = _app({"P": "12", "N": "16", "D": "20", "Ptest": "30", "chains": "4", "sweeps": "40", "burn": "5"},
              page="pages/networks.py")
    at.button(key="net.run").click().run()
    sl = at.select_slider(key="net.chi")
    sl.set_value(float(sl.options[-1])).run()
    at.button(key="net.run").click().run()
    _ok(at)
    labels = at.selectbox(key="net.pick").options
    assert len(labels) == 2 and f"χ = {float(sl.options[-1]):g}" in at.selectbox(key="net.pick").value
    older = next(lab for lab in labels if lab != at.selectbox(key="net.pick").value)
    at.selectbox(key="net.pick").set_value(older).run()
    _ok(at)
    assert any(older in h.value for h in at.subheader)  # the run it names
    for d in at.dataframe:
        cells = d.value.astype(str).to_numpy().ravel()
        assert not any(c in ("None", "nan", "NaN") for c in cells), d.value
    spec = next(sp for sp in _plotly(at) if any(t.get("name") == "NNGP" for t in sp["data"]))
    assert spec["layout"]["yaxis"]["title"]["text"].startswith("train mean(y·Δ)")  # one quantity on its axis
    assert {t.get("yaxis", "y") for t in spec["data"]} == {"y"}  # the theory lines on that same axis


# --- "Train networks here" on Regimes: a streamed Langevin run with Pause, Resume and Cancel --------------------

#: A small non-preset setting (no atlas points) and an ensemble of 32 networks in 4 blocks of 8, about 2 s each (8
#: networks per block: the s.e. of the first block is not a 2-network guess).
TRAIN_QUERY = {"P": "12", "N": "16", "D": "20", "Ptest": "30", "ens": "32", "steps": "6000", "lburn": "50"}
#: How long a test waits for a state of the worker (a busy 2-core machine: the first job also starts the fork server).
TRAIN_WAIT_S = 120
LANGEVIN = plots.METHOD_STYLE["langevin"][0]


def _regimes_traces(at) -> list:
    spec = next(s for s in _plotly(at) if s["layout"].get("meta") == "mc-regimes")
    return spec["data"]


def _training_point(at):
    """(value, s.e., legend name) of the streamed point on the Regimes chart, or None."""
    t = next((d for d in _regimes_traces(at) if d.get("meta") == "training"), None)
    return None if t is None else (_values(t["y"])[0], _values(t["error_y"]["array"])[0], t["name"])


def _until(at, done, what: str):
    """Rerun the page (as its polling fragment does) until ``done(at)``; fail after TRAIN_WAIT_S."""
    import time  # noqa: PLC0415

    deadline = time.monotonic() + TRAIN_WAIT_S
    while not done(at):
        assert time.monotonic() < deadline, f"no {what} within {TRAIN_WAIT_S} s"
        time.sleep(0.3)
        at.run()
        _ok(at)


def _job(at):
    return at.session_state["run.reg.train.job"]["job"] if "run.reg.train.job" in at.session_state else None


def _start_paused(at):
    """Click "Train networks here", wait for its first block (its point is on the chart), then Pause: the worker
    holds after the block it is in (on a busy machine a Pause clicked at once could land before the first block)."""
    assert _job(at) is None and _training_point(at) is None  # nothing runs without a click
    at.button(key="reg.train.start").click().run()
    _ok(at)
    _until(at, lambda a: _job(a) is not None and _job(a).done >= 1, "first block")
    at.button(key="run.reg.train.pause").click().run()
    # wait for the page to *show* the pause (the worker may acknowledge it between a render and the check)
    _until(at, lambda a: _job(a) is not None and _job(a).paused
           and any("Paused after block" in p.proto.text for p in a.get("progress")), "pause shown")


def test_train_networks_here_streams_its_point_pauses_and_stays_on_the_chart():
    import time  # noqa: PLC0415

    at = _app({**TRAIN_QUERY, "lseed": "11"})
    _ok(at)
    _start_paused(at)
    job = _job(at)
    # the point is on the chart before the run ends: the networks of the finished blocks, with their s.e.
    value, se0, name = _training_point(at)
    assert 0 < job.done < job.total and np.isfinite(value) and se0 > 0 and "of 32" in name
    assert any("Paused after block" in p.proto.text for p in at.get("progress"))
    assert any(s["layout"].get("meta") == "mc-training" for s in _plotly(at))  # the live panel
    # paused: no block finishes while it waits
    held = job.done
    time.sleep(2.0)
    at.run()
    assert _job(at).done == held and _job(at).paused
    at.button(key="run.reg.train.resume").click().run()
    _until(at, lambda a: _job(a) is None, "end of the run")
    assert any("stored in the disk cache" in s.value for s in at.success)
    # the finished run is a stored reference point (the cache lists it) with a smaller error bar than the first block's
    ref = next(d for d in _regimes_traces(at) if d.get("name") == LANGEVIN)
    assert _training_point(at) is None and _values(ref["error_y"]["array"])[0] < se0
    settings = Settings(**{**Settings().to_dict(), **dict(P=12, width=16, D=20, P_test=30)})
    runs = compute.runs(compute.build_task(settings), settings)
    assert [(m, o.get("seed")) for m, o in zip(runs["method"], runs["options"])].count(("langevin", 11)) == 1
    assert not [b for b in at.button if b.key == "reg.train.start"]  # trained here: not offered again at this χ


def test_train_networks_here_cancel_stops_the_worker_and_stores_nothing():
    at = _app({**TRAIN_QUERY, "P": "13", "lseed": "12"})  # (other data than the test above: no stored run)
    _start_paused(at)
    job = _job(at)
    at.button(key="run.reg.train.cancel").click().run()
    _ok(at)
    assert _job(at) is None and job.cancelled and not job.proc.is_alive()
    assert any("Training cancelled" in i.value for i in at.info)
    assert _training_point(at) is None and not any(d.get("name") == LANGEVIN for d in _regimes_traces(at))
    settings = Settings(**{**Settings().to_dict(), **dict(P=13, width=16, D=20, P_test=30)})
    assert compute.runs(compute.build_task(settings), settings).empty
    assert at.button(key="reg.train.start")  # offered again


def test_train_networks_here_is_not_offered_at_a_preset():
    at = _app()  # the Teaching preset: the atlas has trained networks there already
    _ok(at)
    assert not [b for b in at.button if b.key == "reg.train.start"]
