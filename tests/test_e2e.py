"""Real-browser end-to-end test: ``streamlit run app.py`` + headless Chromium driven by Playwright.

Moves the χ slider, waits for the chart to change, visits every page and saves screenshots under test-artifacts/
(git-ignored); the Regimes screenshot is also copied to docs/regimes.png for the README.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Server start and first page (theory sweep at the default preset) on a busy 2-core machine.
START_TIMEOUT_S = 90
STEP_TIMEOUT_MS = 60_000
PAGES = [("Feature learning", "feature_learning"), ("Networks", "networks"), ("Width scaling", "width_scaling"),
         ("Data", "data")]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    t0 = time.time()
    while time.time() - t0 < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}: {proc.stdout.read()[-2000:]}")
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "localhost", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://localhost:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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


MARKER_X = """() => {
  const plots = document.querySelectorAll('.js-plotly-plot');
  if (!plots.length || !plots[0].data) return null;
  const d = plots[0].data;
  return d[d.length - 1].x[0];
}"""


def test_browser_slider_pages_screenshots(server):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (bash .ci/run does) to run the browser test")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server, wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stMetric"]', timeout=STEP_TIMEOUT_MS)
            page.wait_for_function(f"({MARKER_X})() !== null", timeout=STEP_TIMEOUT_MS)
            _wait_idle(page)
            _no_exception(page)
            x0 = page.evaluate(MARKER_X)
            metric0 = page.locator('[data-testid="stMetricValue"]').nth(1).inner_text()

            # move the χ slider with the keyboard and wait for the chart's χ marker to move
            thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
            thumb.focus()
            for _ in range(4):
                thumb.press("ArrowRight")
            page.wait_for_function(f"({MARKER_X})() !== {x0}", timeout=STEP_TIMEOUT_MS)
            # the chart follows the slider: wait until its marker sits at the slider's final value
            page.wait_for_function(
                f"() => ({MARKER_X})() === parseFloat(document.querySelector("
                "'[data-testid=\"stSliderThumbValue\"]').innerText)", timeout=STEP_TIMEOUT_MS)
            _wait_idle(page)
            x1 = page.evaluate(MARKER_X)
            assert x1 > x0
            metric1 = page.locator('[data-testid="stMetricValue"]').nth(1).inner_text()
            assert metric1 != metric0, "the tree-level metric did not change with χ"
            assert f"chi={x1:g}" in page.url.replace("%2E", ".")
            _no_exception(page)
            page.screenshot(path=str(ARTIFACTS / "regimes_first.png"), full_page=True)

            for title, slug in PAGES + [("Regimes", "")]:
                page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
                page.wait_for_url(f"**/{slug}?*" if slug else "**/?*", timeout=STEP_TIMEOUT_MS)
                heading = page.locator('[data-testid="stMain"] h1').filter(has_text=title.split()[0])
                heading.first.wait_for(timeout=STEP_TIMEOUT_MS)
                _wait_idle(page)
                _no_exception(page)
                if slug == "networks":  # an exact-posterior run at the current χ (small default: seconds)
                    page.get_by_role("button", name="Run").click()
                    page.get_by_text("Done in").first.wait_for(timeout=STEP_TIMEOUT_MS)
                    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=STEP_TIMEOUT_MS)
                    _wait_idle(page)
                    _no_exception(page)
                if not slug:  # back on Regimes: the run is a point with an error bar and the reference card
                    page.get_by_text("exact posterior (reference)").first.wait_for(timeout=STEP_TIMEOUT_MS)
                    _wait_idle(page)
                page.screenshot(path=str(ARTIFACTS / f"{slug or 'regimes'}.png"), full_page=True)
            (ROOT / "docs").mkdir(exist_ok=True)
            shutil.copyfile(ARTIFACTS / "regimes.png", ROOT / "docs" / "regimes.png")
        finally:
            browser.close()
