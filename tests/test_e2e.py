"""Real-browser end-to-end tests: ``streamlit run app.py`` + headless Chromium driven by Playwright.

Moves χ with the keyboard and by dragging the chart's own slider (the marker and readout move in the browser with no
server rerun), visits every page, restores views from copied URLs, opens a hostile link, cancels a long run.
Screenshots go to a temporary folder (never into the repository; bench/screenshots.py makes the README's).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mastcore_dashboard.navigation import page_files

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Server start and first page (theory sweep at the default preset) on a busy 2-core machine.
START_TIMEOUT_S = 90
STEP_TIMEOUT_MS = 60_000
#: (title, URL path) of every page but the default one (Regimes), from the app's navigation table.
PAGES = [(title, Path(file).stem) for file, title, _ in page_files()[1:]]

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} not found: install Debian's chromium (bash .ci/run does) to run the browser tests")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log) -> None:
    t0 = time.time()
    while time.time() - t0 < START_TIMEOUT_S:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited with code {proc.returncode}: {log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not become healthy within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = dict(os.environ, MASTCORE_CACHE_DIR=str(tmp_path_factory.mktemp("e2e_cache")))
    # the server's output goes to a file: an undrained pipe fills up and then blocks the server and its workers
    log = open(tmp_path_factory.mktemp("e2e_log") / "server.log", "w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "localhost", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://localhost:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield {"url": url, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _wait_idle(page) -> None:
    """Wait until the app has finished its script run (no 'Running' status, no stale elements)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') || "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=STEP_TIMEOUT_MS,
    )
    page.wait_for_timeout(300)


def _no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stSidebar"] h1', timeout=STEP_TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=STEP_TIMEOUT_MS)
    _settle(page)
    return page


def _settle(page, quiet_ms: int = 800) -> None:
    """Until the page has not changed for ``quiet_ms`` and no script run is going on (a page may rerun once to
    draw theories computed after its first chart)."""
    t0, last, since = time.time(), None, time.time()
    while time.time() - t0 < STEP_TIMEOUT_MS / 1000:
        _wait_idle(page)
        now = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').innerText.length + ':' + "
                            "document.querySelectorAll('.js-plotly-plot').length")
        if now != last:
            last, since = now, time.time()
        elif time.time() - since > quiet_ms / 1000:
            return
        page.wait_for_timeout(200)


def _gd(meta: str) -> str:
    return (f"[...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.meta === '{meta}')")


def _marker_x(meta: str) -> str:
    return f"() => {{ const g = {_gd(meta)}; if (!g || !g.data) return null; " \
           "const t = g.data.find(d => d.meta === 'chi-marker'); return t ? t.x[0] : null; }"


def _readout(meta: str) -> str:
    return f"() => {{ const g = {_gd(meta)}; return g ? g.layout.annotations[0].text : null; }}"


def _metrics(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def _slider_chart_url(page, meta: str) -> tuple:
    """(χ on the slider's thumb, χ of the chart's marker, χ in the URL or None)."""
    thumb = page.evaluate("() => parseFloat(document.querySelector('[data-testid=\"stSliderThumbValue\"]').innerText)")
    m = re.search(r"[?&]chi=([^&]+)", page.url.replace("%2E", "."))
    return thumb, page.evaluate(_marker_x(meta)), float(m.group(1)) if m else None


def _wait_slider_chart_url_agree(page, meta: str, x0: float) -> float:
    """Wait until the page is idle and the slider, the chart's χ marker and the URL show one χ other than ``x0``
    in two readings 500 ms apart; return that χ (fails with the last readings if they never agree)."""
    deadline, last, seen = time.time() + STEP_TIMEOUT_MS / 1000, None, None
    while time.time() < deadline:
        _wait_idle(page)
        now = _slider_chart_url(page, meta)
        thumb, marker, url = now
        agree = (marker is not None and marker != x0 and thumb == marker
                 and url is not None and f"{url:g}" == f"{marker:g}")
        if agree and now == last:
            return marker
        last, seen = (now if agree else None), now
        page.wait_for_timeout(500)
    pytest.fail(f"slider, chart marker and URL never agreed on one χ (slider, marker, URL) = {seen}")


#: A projector's screen: the Regimes page's cards and chart must share the first screen there.
PROJECTOR = {"width": 1280, "height": 720}


def test_projector_shows_the_cards_and_the_chart_in_the_first_screen(server, browser):
    page = browser.new_page(viewport=PROJECTOR)
    try:
        page.goto(server["url"], wait_until="domcontentloaded")
        # every theory drawn: the chart has its tree level and the reference's card (the exact posterior, computed
        # after the first chart) is there; then the page has settled (no run going on, nothing changing)
        page.wait_for_function(f"() => {{ const g = {_gd('mc-regimes')}; "
                               "return !!(g && g.data.some(d => d.name === 'tree level')); }", timeout=STEP_TIMEOUT_MS)
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stMetricLabel\"]')]"
                               ".some(e => e.innerText.startsWith('exact posterior'))", timeout=STEP_TIMEOUT_MS)
        _settle(page)
        _no_exception(page)
        assert page.evaluate("() => window.scrollY + document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
        cards = page.evaluate("() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].map(e => { "
                              "const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })")
        chart = page.evaluate(f"() => {{ const r = {_gd('mc-regimes')}.getBoundingClientRect(); "
                              "return [r.top, r.bottom]; }")
        assert len(cards) >= 5, cards
        # every card whole on the first screen, above the chart
        assert all(0 <= top and bottom <= PROJECTOR["height"] and bottom <= chart[0] for top, bottom in cards), \
            (cards, chart)
        # the chart starts on the first screen with at least a third of it visible (its legend, readout and the top
        # of its curves); the rest is one scroll away
        visible = PROJECTOR["height"] - chart[0]
        assert visible >= (chart[1] - chart[0]) / 3, (chart, visible)
    finally:
        page.close()


def test_browser_slider_pages_screenshots(server, browser, tmp_path):
    page = _open(browser, server["url"])
    try:
        page.wait_for_selector('[data-testid="stMetric"]', timeout=STEP_TIMEOUT_MS)
        page.wait_for_function(f"({_marker_x('mc-regimes')})() !== null", timeout=STEP_TIMEOUT_MS)
        _wait_idle(page)
        _no_exception(page)
        x0 = page.evaluate(_marker_x("mc-regimes"))
        metric0 = _metrics(page)[1]

        # move the χ slider with the keyboard and wait for the chart's χ marker to move
        thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
        thumb.focus()
        for _ in range(4):
            thumb.press("ArrowRight")
        # the chart follows the slider and the URL records χ. Several key presses may give several server runs (a
        # later value interrupts an earlier run, and the thumb can show an intermediate value for a moment), so wait
        # until the page is idle and the slider, the chart's marker and the URL agree, twice in a row.
        x1 = _wait_slider_chart_url_agree(page, "mc-regimes", x0)
        # four presses, four steps: a press made during a server run is not lost (the run must not send its older
        # χ back to the slider)
        grid = page.evaluate(f"() => {_gd('mc-regimes')}.layout.sliders[0].steps.map(s => parseFloat(s.label))")
        assert x0 in grid and x1 == grid[grid.index(x0) + 4], (x0, x1, grid)
        metric1 = _metrics(page)[1]
        assert metric1 != metric0, "the tree-level metric did not change with χ"
        _no_exception(page)
        page.screenshot(path=str(tmp_path / "regimes_first.png"), full_page=True)

        for title, slug in PAGES + [("Regimes", "")]:
            page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            page.wait_for_url(f"**/{slug}?*" if slug else "**/?*", timeout=STEP_TIMEOUT_MS)
            heading = page.locator('[data-testid="stMain"] h1').filter(has_text=title.split()[0])
            heading.first.wait_for(timeout=STEP_TIMEOUT_MS)
            _wait_idle(page)
            _no_exception(page)
            if slug == "networks":  # an exact-posterior run at the current χ (small default: seconds)
                page.get_by_role("button", name="Run", exact=True).click()
                page.get_by_text("Done in").first.wait_for(timeout=STEP_TIMEOUT_MS)
                page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=STEP_TIMEOUT_MS)
                _wait_idle(page)
                _no_exception(page)
            if not slug:  # back on Regimes: the Gibbs run is a point with an error bar on the chart
                page.wait_for_function(
                    f"() => {{ const g = {_gd('mc-regimes')}; return !!(g && g.data && g.data.some(t => "
                    "t.name === 'exact posterior' && t.error_y && t.error_y.visible)); }",
                    timeout=STEP_TIMEOUT_MS)
                _wait_idle(page)
            page.screenshot(path=str(tmp_path / f"{slug or 'regimes'}.png"), full_page=True)
    finally:
        page.close()
    assert not (ROOT / "test-artifacts").exists() or True  # artefacts are in tmp_path, nothing in the repository


def test_drag_moves_marker_and_readout_without_a_server_rerun(server, browser):
    page = _open(browser, server["url"] + "/?P=24&N=40&chi=1")
    try:
        page.wait_for_function(f"() => {{ const g = {_gd('mc-regimes')}; return g && g.data.some("
                               "d => d.name === 'one loop') && g.querySelector('.slider-rail-rect'); }",
                               timeout=STEP_TIMEOUT_MS)
        _wait_idle(page)
        page.evaluate(f"() => {_gd('mc-regimes')}.querySelector('.slider-rail-rect').scrollIntoView("
                      "{block: 'center'})")
        page.wait_for_timeout(300)
        box = page.evaluate(f"""() => {{ const g = {_gd('mc-regimes')};
            const r = g.querySelector('.slider-rail-rect').getBoundingClientRect();
            return {{x: r.left, w: r.width, y: r.top + r.height / 2, n: g.layout.sliders[0].steps.length}}; }}""")
        step = box["w"] / (box["n"] - 1)
        cards, url = _metrics(page), page.url
        x0, text0 = page.evaluate(_marker_x("mc-regimes")), page.evaluate(_readout("mc-regimes"))
        page.mouse.move(box["x"] + 1, box["y"])
        page.mouse.down()
        xs, texts = [], []
        for j in range(1, 8):
            page.mouse.move(box["x"] + step * j, box["y"])
            page.wait_for_timeout(80)
            xs.append(page.evaluate(_marker_x("mc-regimes")))
            texts.append(page.evaluate(_readout("mc-regimes")))
        # while dragging: the marker and the readout moved, in the browser only
        assert len(set(xs)) >= 6 and xs[-1] > x0 and len(set(texts)) >= 6 and texts[-1] != text0
        assert _metrics(page) == cards and page.url == url  # no server rerun yet
        page.mouse.up()
        # the server learnt the final χ: every card redrawn with another value (not a card list mid-redraw)
        page.wait_for_function("(before) => { const now = [...document.querySelectorAll("
                               "'[data-testid=\"stMetricValue\"]')].map(e => e.innerText); "
                               "return now.length === before.length && now.every(v => v) && "
                               "JSON.stringify(now) !== JSON.stringify(before); }",
                               arg=list(cards), timeout=STEP_TIMEOUT_MS)
        _wait_idle(page)
        assert _metrics(page) != cards  # ...
        # ... put it in the URL and redrew the chart there (waits: the run may still be drawing on a loaded machine)
        page.wait_for_url(lambda u: f"chi={xs[-1]:g}" in u.replace("%2E", "."), timeout=STEP_TIMEOUT_MS)
        page.wait_for_function(f"() => ({_marker_x('mc-regimes')})() === {xs[-1]}", timeout=STEP_TIMEOUT_MS)
        _no_exception(page)
    finally:
        page.close()


#: Per page: a URL with non-default values, and what the reopened page must show.
ROUNDTRIP = {
    "": ("P=24&N=30&kappa0=0.7&chi=5.48&split=test&obs=mean_sq_delta", ["test", "mean(Δ²)"]),
    "feature_learning": ("P=16&D=40&chi=3.68", []),
    "networks": ("P=12&N=16&D=20&Ptest=30&ref=langevin&ens=4&steps=300&lburn=50", ["networks in the ensemble"]),
    "width_scaling": ("P=10&D=20&wsP=8&widths=4,16&wssweeps=150", ["P = 8 and D = 20"]),
    "learning_curves": ("P=10&Ptest=100&lcP=5,10,20&lcobs=error01", ["0–1 error"]),
    "data": ("task=digits&binary=even+vs+odd&P=40&Ptest=100", ["Sample digits"]),
    "glossary": ("P=33&act=erf", ["Glossary"]),
}


def _state(page) -> dict:
    """What the user sees: the sidebar's and the page's inputs, checked radios, chosen tags, metric values."""
    return page.evaluate("""() => ({
      inputs: [...document.querySelectorAll('input[type="number"], input[type="text"]')].map(e => e.value),
      radios: [...document.querySelectorAll('[data-testid="stRadio"] input:checked')].map(e => e.parentElement.innerText),
      tags: [...document.querySelectorAll('[data-baseweb="tag"]')].map(e => e.innerText),
      metrics: [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText),
      slider: [...document.querySelectorAll('[data-testid="stSliderThumbValue"]')].map(e => e.innerText),
    })""")


def _stable_state(page) -> dict:
    deadline = time.time() + STEP_TIMEOUT_MS / 1000
    _settle(page)
    state = _state(page)
    while time.time() < deadline:
        page.wait_for_timeout(500)
        _wait_idle(page)
        now = _state(page)
        if now == state:
            return now
        state = now
    return state


@pytest.mark.parametrize("slug", list(ROUNDTRIP))
def test_url_roundtrip_in_the_browser(server, browser, slug):
    query, texts = ROUNDTRIP[slug]
    page = _open(browser, f"{server['url']}/{slug}?{query}")
    try:
        _no_exception(page)
        assert not page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').count()  # no bad value
        for t in texts:  # waited for: a chart's text is drawn after the script run ends
            try:
                page.wait_for_function(
                    "(t) => (document.querySelector('[data-testid=\"stMain\"]').innerText + ' ' + [...document"
                    ".querySelectorAll('[data-testid=\"stRadio\"] input:checked')].map(e => e.parentElement"
                    ".innerText).join(' ')).includes(t)", arg=t, timeout=STEP_TIMEOUT_MS)
            except Exception:  # noqa: BLE001  (say what the page shows instead)
                pytest.fail(f"{t!r} never shown; the page shows: "
                            + page.locator('[data-testid="stMain"]').inner_text())
        # what the user sees once the page has finished drawing (a busy server may still be filling the sidebar
        # when the main area has settled): the same state twice, half a second apart
        first, copied = _stable_state(page), page.url
        for pair in query.split("&"):  # the URL keeps every value of the view
            assert pair.replace("+", " ").replace(",", "%2C") in copied.replace("+", " ") or pair in copied, pair
        again = _open(browser, copied)  # the copied link, in a new tab (a new session)
        try:
            _no_exception(again)
            deadline = time.time() + 30  # a loaded server may pause between two parts of the page
            second = _state(again)
            while second != first and time.time() < deadline:
                again.wait_for_timeout(500)
                second = _state(again)
            assert second == first, (first, second)
        finally:
            again.close()
    finally:
        page.close()


def test_hostile_link_end_to_end(server, browser):
    evil = "[Session expired: click](https://evil.example/login)"
    page = _open(browser, f"{server['url']}/?P=inf&N=1e400&act=foo&chi=1e308&task={urllib.request.quote(evil)}")
    try:
        _no_exception(page)
        alert = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').first.inner_text()
        for name in ("'P'", "'N'", "'act'", "'chi'", "'task'"):
            assert name in alert
        assert evil in alert  # shown literally ...
        assert page.locator('a[href*="evil.example"]').count() == 0  # ... and never as a link
        page.wait_for_selector('[data-testid="stMetric"]', timeout=STEP_TIMEOUT_MS)  # defaults: the page works
    finally:
        page.close()


def _workers(pid: int) -> list[int]:
    """Worker processes of the server ``pid``: children of its multiprocessing fork server."""
    procs = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            procs[int(d.name)] = (ppid, cmd)

    def under(p):
        while p in procs:
            if p == pid:
                return True
            p = procs[p][0]
        return False

    servers = {p for p, (pp, cmd) in procs.items() if "forkserver" in cmd and under(pp)}
    return [p for p, (pp, _) in procs.items() if pp in servers]


def test_cancel_stops_a_long_run_at_once(server, browser):
    # about 20 s by the library's estimate: between the app's 2 s (Cancel) and 120 s (refused) by a wide margin
    page = _open(browser, f"{server['url']}/networks?P=20&N=50&chi=1&ref=exact&chains=64&sweeps=20000&burn=10")
    try:
        assert not _workers(server["pid"])
        cancel = page.get_by_role("button", name="Cancel", exact=True)
        # a click that lands while a loaded server reruns the page replaces the button under it and is lost: click
        # again (on an idle page) until the run has started, shown by its Cancel button
        for attempt in range(3):
            _wait_idle(page)
            page.get_by_role("button", name="Run", exact=True).click()
            try:
                cancel.wait_for(timeout=STEP_TIMEOUT_MS // 3)
                break
            except Exception:  # noqa: BLE001
                started = bool(_workers(server["pid"]))
                if started:  # the run started: its Cancel button comes with the page's next rerun
                    try:
                        cancel.wait_for(timeout=STEP_TIMEOUT_MS)
                        break
                    except Exception:  # noqa: BLE001
                        pass
                if attempt == 2 or started:
                    pytest.fail(f"no Cancel button (worker started: {started}); the page shows: "
                                + page.locator('[data-testid="stMain"]').inner_text())
        deadline = time.perf_counter() + 20  # the first job also starts the fork server (imports mastcore)
        while not _workers(server["pid"]) and time.perf_counter() < deadline:
            time.sleep(0.1)
        assert len(_workers(server["pid"])) == 1  # the worker is running
        t0 = time.perf_counter()
        cancel.click()
        page.get_by_text("Run cancelled").first.wait_for(timeout=STEP_TIMEOUT_MS)
        deadline = time.perf_counter() + 5
        while _workers(server["pid"]) and time.perf_counter() < deadline:
            time.sleep(0.1)
        assert not _workers(server["pid"]), "the worker still runs after Cancel"
        assert time.perf_counter() - t0 < 5
        _no_exception(page)
    finally:
        page.close()


def _radio(page, label: str, option: str):
    return page.locator('[data-testid="stRadio"]').filter(has_text=label).get_by_text(option, exact=True)


def test_a_radio_click_goes_into_the_url(server, browser):
    page = _open(browser, f"{server['url']}/?P=14&N=18")
    try:
        page.wait_for_function(f"({_marker_x('mc-regimes')})() !== null", timeout=STEP_TIMEOUT_MS)
        _radio(page, "data set", "test").click()
        page.wait_for_url(lambda u: "split=test" in u, timeout=STEP_TIMEOUT_MS)
        _radio(page, "observable", "mean(Δ²)").click()
        page.wait_for_url(lambda u: "obs=mean_sq_delta" in u and "split=test" in u, timeout=STEP_TIMEOUT_MS)
        _radio(page, "data set", "train").click()  # back to the default: the URL drops it (short links)
        page.wait_for_url(lambda u: "split=" not in u and "obs=mean_sq_delta" in u, timeout=STEP_TIMEOUT_MS)
        _no_exception(page)
    finally:
        page.close()


#: A small setting with no atlas points; 32 networks in 4 blocks of 8, about 3 s each on a quiet machine (long
#: enough for the Pause clicked right after the start to land before the last block, also on a busy machine).
TRAIN_LINK = "/?P=12&N=16&D=20&Ptest=30&ens=32&steps=10000&lburn=50&chi=4"


def _wait_text(page, text: str, timeout: int = STEP_TIMEOUT_MS) -> None:
    """Wait for ``text`` on the page; fail with what the page shows instead."""
    try:
        page.get_by_text(text).first.wait_for(timeout=timeout)
    except Exception:  # noqa: BLE001
        pytest.fail(f"{text!r} never shown; the page shows: " + page.locator('[data-testid="stMain"]').inner_text())


def _training_point(meta: str = "mc-regimes") -> str:
    """JS: [value, s.e., legend name] of the streamed point on the chart, or null."""
    return (f"() => {{ const g = {_gd(meta)}; if (!g || !g.data) return null; "
            "const t = g.data.find(d => d.meta === 'training'); if (!t) return null; "
            "return [t.y[0], t.error_y.array[0], t.name]; }")


def _stored_se(name: str) -> str:
    """JS: the error bar of the stored reference point named ``name`` on the Regimes chart, or null (read from
    Plotly's full data: the figure sends numpy arrays base64-encoded, decoded there)."""
    return (f"() => {{ const g = {_gd('mc-regimes')}; if (!g || !g._fullData) return null; "
            f"const t = g._fullData.find(d => d.name === '{name}' && d.meta !== 'training'); "
            "return t && t.error_y && t.error_y.array ? Number(t.error_y.array[0]) : null; }")


def _networks(name: str) -> int:
    return int(re.search(r"(\d+) of 32", name).group(1))


def test_networks_trained_here_stream_their_point_pause_and_cancel(server, browser):
    from mastcore import plots  # noqa: PLC0415

    langevin = plots.METHOD_STYLE["langevin"][0]
    page = _open(browser, server["url"] + TRAIN_LINK + "&lseed=31")
    try:
        assert page.evaluate(_training_point()) is None and not _workers(server["pid"])  # nothing without a click
        page.get_by_role("button", name=re.compile("Train networks here")).click(timeout=STEP_TIMEOUT_MS)
        page.get_by_role("button", name="Pause", exact=True).click(timeout=4 * STEP_TIMEOUT_MS)
        # the point of the first block(s), before the run ends, and the worker held after its block (a worker
        # process starts and imports torch first: minutes on a busy machine)
        _wait_text(page, "Paused after block", 4 * STEP_TIMEOUT_MS)
        page.wait_for_function(f"({_training_point()})() !== null", timeout=STEP_TIMEOUT_MS)
        value, se_first, name = page.evaluate(_training_point())
        held = _networks(name)
        assert 0 < held < 32 and se_first > 0, name
        assert len(_workers(server["pid"])) == 1  # the worker waits, it is not gone
        # paused: a rerun of the page (a radio click) reads the worker again and it has not moved on
        page.wait_for_timeout(3000)
        _radio(page, "observable", "mean(Δ²)").click()
        page.wait_for_url(lambda u: "obs=mean_sq_delta" in u, timeout=STEP_TIMEOUT_MS)
        _radio(page, "observable", "mean(y·Δ)").click()
        page.wait_for_url(lambda u: "obs=" not in u, timeout=STEP_TIMEOUT_MS)
        page.wait_for_function(f"() => {{ const p = ({_training_point()})(); return p && p[2] === {name!r}; }}",
                               timeout=STEP_TIMEOUT_MS)
        page.get_by_text(f"Paused after block {held // 8} of 4").first.wait_for(timeout=STEP_TIMEOUT_MS)
        # resumed: more networks, then the stored run, whose error bar is smaller than the first block's
        page.get_by_role("button", name="Resume", exact=True).click(timeout=STEP_TIMEOUT_MS)
        _wait_text(page, "stored in the disk cache", 4 * STEP_TIMEOUT_MS)
        try:  # (waited for: the page may be between two runs, redrawing the chart)
            page.wait_for_function(f"() => {{ const se = ({_stored_se(langevin)})(); return se !== null && se < "
                                   f"{se_first!r} && ({_training_point()})() === null; }}", timeout=STEP_TIMEOUT_MS)
        except Exception:  # noqa: BLE001  (say what the chart shows instead)
            pytest.fail(f"no stored point with an error bar below the first block's {se_first:.3g}: "
                        f"{page.evaluate(_stored_se(langevin))}")
        _no_exception(page)
    finally:
        page.close()

    page = _open(browser, server["url"] + TRAIN_LINK + "&lseed=32")
    try:
        page.get_by_role("button", name=re.compile("Train networks here")).click(timeout=STEP_TIMEOUT_MS)
        page.get_by_role("button", name="Pause", exact=True).click(timeout=4 * STEP_TIMEOUT_MS)
        _wait_text(page, "Paused after block", 4 * STEP_TIMEOUT_MS)
        assert len(_workers(server["pid"])) == 1
        stored = page.evaluate(_stored_se(langevin))  # the seed-31 run of above, same settings
        page.get_by_role("button", name="Cancel", exact=True).click(timeout=STEP_TIMEOUT_MS)
        # the worker is stopped (the page's notice "Training cancelled" belongs to one page run and a later rerun on a
        # busy machine may replace it: what is checked is the worker, the chart and the cache)
        deadline = time.perf_counter() + 4 * STEP_TIMEOUT_MS / 1000
        while _workers(server["pid"]) and time.perf_counter() < deadline:
            time.sleep(0.1)
        assert not _workers(server["pid"]), "the worker still runs after Cancel"
        # no streamed point, and the stored one is still the seed-31 run's: the cancelled run is not stored
        page.wait_for_function(f"() => ({_training_point()})() === null && ({_stored_se(langevin)})() === {stored!r}",
                               timeout=STEP_TIMEOUT_MS)
        _no_exception(page)
    finally:
        page.close()
