"""What a user of the dashboard feels, measured in real Chromium: χ drag latency, server round trip, cold load,
and the server's memory under large links.

Run: ``python bench/browser_latency.py [--repeats 20] [--only drag,roundtrip,cold,memory,switch,session]``
(``session``: only the new sessions of ``switch``). Needs Debian's
``/usr/bin/chromium`` (``bash .ci/run`` installs it) and the playwright Python package (no browser download).

Targets: chart update < 50 ms after a drag step; server round trip < 300 ms; cold first load at the Teaching
preset < 3 s; a preset switch <= 1.5 s, an activation switch <= 2 s and a new session at the Teaching preset <= 3 s
on a warm server; three large links (P = 5000, P* = 20000, D = 5000, distinct seeds) grow the server by < 1 GB.

What is timed
-------------
- **drag**: a real mouse drag (Playwright's mouse) over the Regimes chart's own χ slider, one step at a time. For
  each step the page records the ``mousemove`` event's timestamp and the first animation frame after Plotly has
  redrawn the χ marker; the figure is that difference. It also checks that no server rerun happened during the
  drag (the metric cards, which only the server draws, are unchanged until the mouse is released).
- **roundtrip**: from the release of the mouse to the moment the server's metric cards show the new χ (the value
  reaches the server, it reruns the page fragment, the browser draws the result).
- **cold**: a fresh ``streamlit run`` server (empty disk cache), then the first page load at the Teaching preset
  until the Regimes chart is drawn (NNGP and tree level) and until every theory is in it.
- **switch**: on one warm server, the sidebar's Preset (Teaching <-> Paper Fig. 2) and activation (linear <-> erf
  at Teaching) are switched back and forth; each time from the click on the option to the Regimes chart drawn for
  the new setting (its tree-level curve changed and the caption shows the new P or activation). The first visit of a
  setting computes its theory (reported apart); later switches find it in the memo / disk cache (the targets). Then
  new tabs (new sessions) at the Teaching preset, until the chart has its tree level. The load average is printed
  before and after: a busy machine's numbers are labelled as such.
- **memory**: a fresh server (RSS read from /proc/PID/status, no psutil); three links with P = 5000, P* = 20000,
  D = 5000 and seeds 1, 2, 3 are opened one after the other (each until its page has finished), then closed; the
  server's resident memory is read before, at the end and its peak (VmHWM) during.
Baselines measured in the same run: a plain ``page.evaluate`` round trip to the browser (drag, round trip); for the
cold load, the smallest Streamlit app with one plotly chart on a fresh server, and the import of mastcore and the
dashboard in a fresh interpreter (what the first session of a server pays); for memory, a second set of links
the app does build (P = P* = D = 2000), which fill its byte-bounded memo.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000
LARGE = dict(P=5000, Ptest=20000, D=5000)

#: Page-side helpers: the live chart (by its layout.meta), its marker x and its readout text.
JS_HELPERS = """
window.__mc = {
  gd(meta) { for (const g of document.querySelectorAll('.js-plotly-plot')) if (g.layout && g.layout.meta === meta) return g; return null; },
  markerX(meta) { const g = this.gd(meta); if (!g) return null; const t = g.data.find(d => d.meta === 'chi-marker'); return t ? t.x[0] : null; },
  readout(meta) { const g = this.gd(meta); return g && g.layout.annotations && g.layout.annotations.length ? g.layout.annotations[0].text : null; },
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The baseline of the cold load: the smallest Streamlit app with a title, a metric and one plotly chart.
TRIVIAL_APP = """import plotly.graph_objects as go
import streamlit as st
st.sidebar.title("baseline")
st.title("baseline")
st.metric("a", 1)
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2], y=[1, 2]), layout=dict(meta="mc-regimes")))
"""


class Server:
    """``streamlit run app.py`` on a free port with its own empty cache directory (a context manager).
    ``script``: another script to run instead (the baseline)."""

    def __init__(self, env: dict | None = None, script: str = "app.py"):
        self.script = script
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.cache = tempfile.mkdtemp(prefix="mastcore-browser-")
        self.env = dict(os.environ, MASTCORE_CACHE_DIR=self.cache, **(env or {}))
        self.proc = None

    def __enter__(self) -> "Server":
        # the server's output goes to a file: an undrained pipe fills up and then blocks the server and its workers
        self.log = open(Path(self.cache) / "server.log", "w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", self.script, "--server.port", str(self.port), "--server.address",
             "localhost", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        t0 = time.time()
        while time.time() - t0 < 90:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"streamlit exited: {self.log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("streamlit did not become healthy within 90 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def rss(self) -> dict:
        """Resident memory of the server process (MiB): current (VmRSS) and peak (VmHWM), from /proc."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
        return out


def wait_idle(page, timeout=TIMEOUT_MS) -> None:
    """Until the app has finished its script run (no 'Running…' status widget)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') || "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)
    page.wait_for_timeout(200)


def open_browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def slider_rail(page, meta: str):
    """(x0, x1, y, n_steps) of the χ slider of the live chart ``meta`` in page pixels (scrolled into view)."""
    page.evaluate("(meta) => window.__mc.gd(meta).querySelector('.slider-rail-rect').scrollIntoView("
                  "{block: 'center'})", meta)
    page.wait_for_timeout(300)
    box = page.evaluate("""(meta) => {
      const g = window.__mc.gd(meta); const rail = g.querySelector('.slider-rail-rect');
      const r = rail.getBoundingClientRect(); const s = g.layout.sliders[0];
      return {x: r.left, w: r.width, y: r.top + r.height / 2, n: s.steps.length, active: s.active};
    }""", meta)
    return box


def drag_steps(page, meta: str, n_moves: int):
    """Drag the live slider one step at a time; returns (latencies in ms, marker positions, readouts)."""
    box = slider_rail(page, meta)
    n = box["n"]
    step_px = box["w"] / max(n - 1, 1)
    start = box["active"]
    page.evaluate("""(meta) => {
      window.__lat = []; window.__t = null;
      window.addEventListener('mousemove', (e) => { window.__t = e.timeStamp; }, true);
      const g = window.__mc.gd(meta);
      g.on('plotly_sliderchange', () => {
        const t = window.__t;
        requestAnimationFrame(() => { window.__lat.push(performance.now() - t); });
      });
    }""", meta)
    x = box["x"] + step_px * start
    # grab the slider's handle (Plotly moves to the clicked step on mousedown)
    page.mouse.move(x, box["y"])
    page.mouse.down()
    xs, texts = [], []
    direction = 1 if start < n // 2 else -1
    for i in range(1, n_moves + 1):
        j = start + direction * i
        if not 0 <= j < n:
            break
        page.mouse.move(box["x"] + step_px * j, box["y"])
        page.wait_for_timeout(60)
        xs.append(page.evaluate(f"window.__mc.markerX('{meta}')"))
        texts.append(page.evaluate(f"window.__mc.readout('{meta}')"))
    lat = page.evaluate("window.__lat")
    return lat, xs, texts


def metric_values(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def bench_drag_and_roundtrip(p, server, repeats: int) -> dict:
    browser = open_browser(p)
    out = {"lat": [], "roundtrip": [], "rerun_during_drag": 0, "baseline": []}
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server.url + "/?P=80&Ptest=1000&D=200&N=100&chi=1", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stMetric"]', timeout=TIMEOUT_MS)
        page.add_script_tag(content=JS_HELPERS)
        page.wait_for_function("() => window.__mc.gd('mc-regimes') && window.__mc.gd('mc-regimes')"
                               ".querySelector('.slider-rail-rect') && window.__mc.gd('mc-regimes').data.some("
                               "d => d.name === 'one loop')", timeout=TIMEOUT_MS)
        wait_idle(page)
        for _ in range(20):  # baseline: a bare evaluate round trip
            t0 = time.perf_counter()
            page.evaluate("1")
            out["baseline"].append(1000 * (time.perf_counter() - t0))
        for r in range(repeats):
            page.add_script_tag(content=JS_HELPERS)
            before = metric_values(page)
            lat, xs, texts = drag_steps(page, "mc-regimes", 6)
            during = metric_values(page)
            if during != before:
                out["rerun_during_drag"] += 1
            out["lat"] += lat
            out.setdefault("marker_moves", []).append(len(set(xs)))
            out.setdefault("readout_moves", []).append(len(set(texts)))
            t0 = time.perf_counter()
            page.mouse.up()
            page.wait_for_function("(before) => { const v = [...document.querySelectorAll("
                                   "'[data-testid=\"stMetricValue\"]')].map(e => e.innerText); "
                                   "return JSON.stringify(v) !== JSON.stringify(before); }", arg=before,
                                   timeout=TIMEOUT_MS)
            out["roundtrip"].append(1000 * (time.perf_counter() - t0))
            wait_idle(page)
    finally:
        browser.close()
    return out


def _cold_load(p, script: str = "app.py", full: bool = True) -> tuple[float, float]:
    """A fresh server and browser: seconds to the Regimes chart, and to the chart with every theory."""
    with Server(script=script) as server:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            t0 = time.perf_counter()
            page.goto(server.url, wait_until="domcontentloaded")
            page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                                   "g => g.layout && g.layout.meta === 'mc-regimes')", timeout=TIMEOUT_MS)
            first = time.perf_counter() - t0
            every = first
            if full:
                page.wait_for_function("() => { const g = [...document.querySelectorAll('.js-plotly-plot')].find("
                                       "g => g.layout && g.layout.meta === 'mc-regimes'); "
                                       "return g && g.data.some(d => d.name === 'one loop'); }", timeout=TIMEOUT_MS)
                every = time.perf_counter() - t0
        finally:
            browser.close()
    return first, every


def bench_cold(p, repeats: int = 3) -> dict:
    """Median over ``repeats`` fresh servers of the app's cold load, and of the trivial baseline app's."""
    import tempfile as _tf  # noqa: PLC0415

    base = Path(_tf.mkdtemp(prefix="mastcore-baseline-")) / "baseline.py"
    base.write_text(TRIVIAL_APP)
    app = [_cold_load(p) for _ in range(repeats)]
    trivial = [_cold_load(p, str(base), full=False)[0] for _ in range(repeats)]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mastcore, mastcore_dashboard.sidebar, mastcore_dashboard.chi, mastcore_dashboard.curves"], cwd=ROOT, check=True)
    imports = time.perf_counter() - t0
    return {"first_chart_s": statistics.median(a[0] for a in app),
            "all_theories_s": statistics.median(a[1] for a in app),
            "baseline_s": statistics.median(trivial), "imports_s": imports}


#: The largest links the app builds (P + P* = 4000 rows of D = 2000: 61 MiB of inputs, 183 MiB while drawn).
ACCEPTED = dict(P=2000, Ptest=2000, D=2000)


def bench_memory(p, links: dict = LARGE) -> dict:
    with Server() as server:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server.url, wait_until="domcontentloaded")  # warm: imports done, a normal page drawn
            page.wait_for_selector('[data-testid="stMetric"]', timeout=TIMEOUT_MS)
            wait_idle(page)
            page.close()
            time.sleep(1)
            before = server.rss()
            seen = []
            for seed in (1, 2, 3):
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                q = "&".join(f"{k}={v}" for k, v in {**links, "seed": seed}.items())
                for path in ("", "data"):
                    page.goto(f"{server.url}/{path}?{q}", wait_until="domcontentloaded")
                    page.wait_for_selector('[data-testid="stMainBlockContainer"]', timeout=TIMEOUT_MS)
                    wait_idle(page)
                    page.wait_for_timeout(500)
                    seen.append(page.locator('[data-testid="stAlert"]').all_inner_texts()[:1])
                page.close()
            time.sleep(2)
            after = server.rss()
        finally:
            browser.close()
    return {"before": before, "after": after, "messages": seen}


#: JS: a signature of the Regimes chart's tree-level curve (number of χ values, largest χ, first value), or null;
#: read from Plotly's full data (numpy arrays reach the browser base64-encoded and are decoded there).
CHART_SIGNATURE = """() => {
  const g = window.__mc && window.__mc.gd('mc-regimes'); if (!g || !g._fullData) return null;
  const t = g._fullData.find(d => d.name === 'tree level'); if (!t || !t.x || !t.x.length) return null;
  return JSON.stringify([t.x.length, Number(t.x[t.x.length - 1]), Number(t.y[0])]);
}"""


def _select(page, label: str, option: str) -> float:
    """Pick ``option`` in the sidebar's selectbox ``label``; returns the perf_counter of the click on the option."""
    page.keyboard.press("Escape")  # (no list of an earlier pick left open)
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_role("combobox", name=label, exact=True))
    item = page.get_by_role("option", name=option).first
    for _ in range(10):  # the sidebar may be redrawn by a run in progress: open its list until it shows
        box.get_by_role("button", name="Open").click()
        try:
            item.wait_for(timeout=3000)
            break
        except Exception:  # noqa: BLE001  (not open yet: try again)
            page.keyboard.press("Escape")
    item.wait_for(timeout=TIMEOUT_MS)
    t0 = time.perf_counter()
    item.click()
    return t0


def _chart_changed(page, before: str, text: str) -> None:
    """Until the Regimes chart's tree-level curve differs from ``before`` and the page's caption shows ``text``."""
    page.add_script_tag(content=JS_HELPERS)
    page.wait_for_function(f"(before) => {{ const s = ({CHART_SIGNATURE})(); return s !== null && s !== before && "
                           "document.querySelector('[data-testid=\"stMain\"]').innerText.includes("
                           f"{text!r}); }}", arg=before, timeout=TIMEOUT_MS)


def _switch(page, label: str, option: str, text: str) -> float:
    """Seconds from picking ``option`` in the sidebar's ``label`` to the chart drawn for it (caption ``text``)."""
    page.add_script_tag(content=JS_HELPERS)
    before = page.evaluate(CHART_SIGNATURE)
    t0 = _select(page, label, option)
    _chart_changed(page, before, text)
    dt = time.perf_counter() - t0
    print(f"  {label} -> {option}: {dt:.2f} s", file=sys.stderr, flush=True)
    wait_idle(page)
    return dt


def bench_switches(p, repeats: int = 3) -> dict:
    """On one warm server: preset switches (Teaching <-> Paper Fig. 2), activation switches at Teaching (linear <->
    erf), each first (theory computed) and again (disk cache and memo warm), and new sessions at Teaching."""
    out = {"preset_first": [], "preset": [], "act_first": [], "act": [], "session": [], "load": [os.getloadavg()]}
    with Server() as server:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server.url, wait_until="domcontentloaded")
            page.add_script_tag(content=JS_HELPERS)
            page.wait_for_function(f"() => ({CHART_SIGNATURE})() !== null", timeout=TIMEOUT_MS)
            wait_idle(page)
            for r in range(repeats):
                key = "preset_first" if r == 0 else "preset"
                out[key].append(_switch(page, "Preset", "Paper Fig. 2", "P = 80,"))
                out["preset"].append(_switch(page, "Preset", "Teaching", "P = 20,"))  # (drawn at the start)
            for r in range(repeats):
                key = "act_first" if r == 0 else "act"
                out[key].append(_switch(page, "activation", "erf", "erf"))
                out["act"].append(_switch(page, "activation", "linear", "linear"))
            page.close()
            out["session"] = _new_sessions(browser, server, repeats)
        finally:
            browser.close()
    out["load"].append(os.getloadavg())
    return out


def _new_sessions(browser, server, repeats: int) -> list:
    """Seconds from opening a new tab (a new session) at the Teaching preset to the Regimes chart with its tree level."""
    out = []
    for _ in range(repeats):
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        t0 = time.perf_counter()
        page.goto(server.url, wait_until="domcontentloaded")
        page.wait_for_function("() => { const g = [...document.querySelectorAll('.js-plotly-plot')].find("
                               "g => g.layout && g.layout.meta === 'mc-regimes'); "
                               "return g && g.data.some(d => d.name === 'tree level'); }", timeout=TIMEOUT_MS)
        out.append(time.perf_counter() - t0)
        wait_idle(page)
        page.close()
    return out


def bench_sessions(p, repeats: int = 5) -> dict:
    """Only the new sessions of :func:`bench_switches`: one first load warms the server (imports, theory, memo), then
    ``repeats`` new tabs at the Teaching preset."""
    load = [os.getloadavg()]
    with Server() as server:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server.url, wait_until="domcontentloaded")
            page.add_script_tag(content=JS_HELPERS)
            page.wait_for_function(f"() => ({CHART_SIGNATURE})() !== null", timeout=TIMEOUT_MS)
            wait_idle(page)
            page.close()
            session = _new_sessions(browser, server, repeats)
        finally:
            browser.close()
    return {"session": session, "load": load + [os.getloadavg()]}


def _row(name: str, values: list, target: float | None) -> str:
    if not values:
        return f"| {name} | – | – | – |"
    med = statistics.median(values)
    verdict = "" if target is None else ("PASS" if med <= target else "FAIL")
    return (f"| {name} | {med:.2f} s | {', '.join(f'{v:.2f}' for v in values)} | "
            f"{'' if target is None else f'<= {target:g} s '}{verdict} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--only", default="drag,roundtrip,cold,memory,switch")
    args = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} not found: install Debian's chromium (bash .ci/run does)")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    only = set(args.only.split(","))
    with sync_playwright() as p:
        if only & {"drag", "roundtrip"}:
            with Server() as server:
                r = bench_drag_and_roundtrip(p, server, args.repeats)
            lat, rt = r["lat"], r["roundtrip"]
            print(f"baseline page.evaluate round trip: median {statistics.median(r['baseline']):.1f} ms")
            print(f"drag: chart update after a drag step (mousemove -> next frame after Plotly redrew): median "
                  f"{statistics.median(lat):.1f} ms, 90th percentile {sorted(lat)[int(0.9 * len(lat))]:.1f} ms, "
                  f"max {max(lat):.1f} ms over {len(lat)} steps  -> target < 50 ms: "
                  f"{'PASS' if statistics.median(lat) < 50 else 'FAIL'}")
            print(f"drag: marker positions per drag {r['marker_moves']}, readouts per drag {r['readout_moves']}; "
                  f"server reruns during a drag: {r['rerun_during_drag']} of {args.repeats}")
            print(f"round trip: release -> server's metric cards updated: median {statistics.median(rt):.0f} ms, "
                  f"max {max(rt):.0f} ms over {len(rt)} releases  -> target < 300 ms: "
                  f"{'PASS' if statistics.median(rt) < 300 else 'FAIL'}")
        if "cold" in only:
            c = bench_cold(p)
            print(f"cold first load (fresh server, empty cache, Teaching preset; median of 3): chart with NNGP + "
                  f"tree level after {c['first_chart_s']:.2f} s, every theory after {c['all_theories_s']:.2f} s  -> "
                  f"target < 3 s: {'PASS' if c['first_chart_s'] < 3 else 'FAIL'}")
            print(f"cold load baselines in the same run: a trivial Streamlit app with one plotly chart "
                  f"{c['baseline_s']:.2f} s; importing mastcore and the dashboard in a fresh interpreter "
                  f"{c['imports_s']:.2f} s  -> ratio app / trivial {c['first_chart_s'] / c['baseline_s']:.2f}")
        if "switch" in only:
            sw = bench_switches(p, repeats=max(2, min(args.repeats, 3)))
            (l1, l5, _), (m1, m5, _) = sw["load"]
            print(f"switches on one warm server (load average 1/5 min: {l1:.1f}/{l5:.1f} before, {m1:.1f}/{m5:.1f} "
                  f"after, {os.cpu_count()} CPUs):")
            print("| switch | median | each | target |")
            print("|---|---|---|---|")
            print(_row("preset switch, first visit (theory computed)", sw["preset_first"], None))
            print(_row("preset switch (Teaching <-> Paper Fig. 2, visited before)", sw["preset"], 1.5))
            print(_row("activation switch, first (linear -> erf, theory computed)", sw["act_first"], None))
            print(_row("activation switch (linear <-> erf, visited before)", sw["act"], 2.0))
            print(_row("new session at the Teaching preset (warm server)", sw["session"], 3.0))
        if "session" in only:
            se = bench_sessions(p, repeats=args.repeats)
            (l1, l5, _), (m1, m5, _) = se["load"]
            print(f"new sessions on a warm server (load average 1/5 min: {l1:.1f}/{l5:.1f} before, {m1:.1f}/{m5:.1f} "
                  f"after, {os.cpu_count()} CPUs):")
            print(_row("new session at the Teaching preset (warm server)", se["session"], 3.0))
        if "memory" in only:
            for name, links in (("three large links (P=5000, P*=20000, D=5000)", LARGE),
                                ("three of the largest links the app builds (P=2000, P*=2000, D=2000)", ACCEPTED)):
                m = bench_memory(p, links)
                grow = m["after"]["VmRSS"] - m["before"]["VmRSS"]
                print(f"memory, {name}, seeds 1-3, Regimes and Data pages: server RSS {m['before']['VmRSS']:.0f} MiB "
                      f"before, {m['after']['VmRSS']:.0f} MiB after (growth {grow:.0f} MiB; peak VmHWM "
                      f"{m['after']['VmHWM']:.0f} MiB)  -> target growth < 1 GB: {'PASS' if grow < 1024 else 'FAIL'}")
                print(f"  first message on each page: {[t[0][:90] if t else '' for t in m['messages']]}")


if __name__ == "__main__":
    main()
