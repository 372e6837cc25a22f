"""A class on one server: N concurrent browser sessions moving χ and changing the sidebar, in real Chromium.

Run: ``python bench/classroom.py [--sessions 30] [--actions 6] [--idle 600] [--preset "Teaching (small, fast)"]``.
Needs Debian's ``/usr/bin/chromium`` and the playwright and psutil Python packages (no browser download).

What it does
------------
- starts ``streamlit run app.py`` on 127.0.0.1 (a free port, its own empty disk cache, output to a log file);
- opens the sessions as pages (one browser context each, so each is its own Streamlit session) of ONE headless
  Chromium, a second or so apart (a class arriving), each on the Regimes page at the preset;
- each session then alternates two kinds of action, ``--actions`` in all: a **χ** move (1–3 key presses on the
  χ slider, as tests/test_e2e.py does) and a **sidebar** change (seed, N or κ0 typed into its number input, drawn
  from a small pool per field, as when a teacher says "set N to 80": sessions share many settings);
- the response time of an action runs from the action to the first moment the page is idle again with the new
  value shown (no script run, no stale element, the server's χ marker / page caption show the new value) and stays
  so for QUIET_MS (waited for in the page, never a sleep-then-read);
- errors: exceptions shown in the page (``stException``), page JavaScript errors, failed loads and actions that
  never finished (ACTION_TIMEOUT_S);
- server memory: RSS of the server process and its children (psutil) every second, at start, after the first
  page, at the peak, at the end of the load (all pages closed) and after ``--idle`` seconds with no session.

Bounded: at most MAX_SESSIONS sessions and MAX_ACTIONS actions each, a wall-clock limit for the load
(``--max-seconds``), and the server is stopped at the end (also on errors or Ctrl-C). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mastcore_dashboard.state import PRESETS, Settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MAX_SESSIONS = 60
MAX_ACTIONS = 50
MAX_IDLE_S = 1800
#: An action that has not finished after this long counts as an error (and the session goes on); a first page
#: (which also loads plotly.js, a few MB, into the page) that has not loaded after LOAD_TIMEOUT_S is a failed load.
ACTION_TIMEOUT_S = 120
LOAD_TIMEOUT_S = 300
#: How often a waiting page checks its state (ms): the resolution of the response times. Thirty pages checking
#: every 50 ms cost the browser (on the server's cores) more than they tell.
POLL_MS = 100
#: The page must stay idle with the new value for this long before the action counts as done.
QUIET_MS = 300
START_TIMEOUT_S = 120
#: Sidebar changes: number inputs (their labels) and the values a session picks from.
SIDEBAR_POOL = {"seed": ("seed", "seed", (0, 1, 2, 3)),
                "width": ("N (width)", "N", (50, 80, 100)),
                "kappa0": ("κ0 (noise)", "κ0", (1.0, 0.5))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` on 127.0.0.1 with an empty disk cache (a context manager)."""

    def __init__(self, extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="mastcore-classroom-")
        self.env = dict(os.environ, MASTCORE_CACHE_DIR=str(Path(self.dir) / "cache"))
        self.extra_args = list(extra_args)
        self.proc = None

    def __enter__(self) -> "Server":
        self.log = open(Path(self.dir) / "server.log", "w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", *self.extra_args],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        t0 = time.time()
        while time.time() - t0 < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"streamlit exited: {self.log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise TimeoutError(f"streamlit did not become healthy within {START_TIMEOUT_S} s")

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    child.terminate()
                except psutil.Error:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def rss_mib(self) -> float:
        """Resident memory of the server and its children (MiB)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return float("nan")
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20


class Sampler(threading.Thread):
    """RSS of the server every ``every`` seconds, into ``samples`` as (seconds since start, MiB)."""

    def __init__(self, server: Server, every: float = 1.0):
        super().__init__(daemon=True)
        self.server, self.every, self.samples, self.cpu = server, every, [], {}
        self.t0 = time.time()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.time() - self.t0, self.server.rss_mib()))
            self._cpu()
            self.stop.wait(self.every)

    def _cpu(self) -> None:
        """CPU seconds (user + system) of every process of the server and of the browser, as last seen (a
        process that ends keeps its last reading): where the machine's time goes."""
        try:
            server = psutil.Process(self.server.proc.pid)
            server_pids = {server.pid, *(c.pid for c in server.children(recursive=True))}
            mine = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        for p in [server, *mine]:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            side = "server" if p.pid in server_pids else "browser"
            self.cpu.setdefault(side, {})[p.pid] = t.user + t.system

    def cpu_seconds(self) -> dict:
        self._cpu()
        return {side: sum(v.values()) for side, v in self.cpu.items()}

    def now(self) -> float:
        return self.server.rss_mib()


# --- page-side conditions -------------------------------------------------------------------------------

#: Idle (a predicate's source; WANT and QUIET are filled in): the app's script state is 'notRunning' (Streamlit's
#: own attribute on stApp), no 'Running' status, no stale element, the chart and its metric cards are there, and
#: WANT (a JS expression: the new value is shown) holds. The predicate returns the page time (epoch ms) it first
#: held, once it has held for QUIET ms.
IDLE_JS = """
() => {
  const st = document.querySelector('[data-testid="stStatusWidget"]');
  const app = document.querySelector('[data-testid="stApp"]');
  const running = (st && st.innerText.includes('Running')) || !app
    || app.getAttribute('data-test-script-state') !== 'notRunning';
  const stale = document.querySelector('[data-stale="true"]');
  let ok = !running && !stale && document.querySelector('[data-testid="stMetricValue"]') !== null;
  if (ok) { try { ok = !!(WANT); } catch (e) { ok = false; } }
  if (!ok) { window.__mcSince = null; return false; }
  if (window.__mcSince == null) window.__mcSince = Date.now();
  return Date.now() - window.__mcSince >= QUIET ? window.__mcSince : false;
}
"""

GD = ("[...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.meta === 'mc-regimes')")
MARKER = f"(() => {{ const g = {GD}; if (!g || !g.data) return null; " \
         "const t = g.data.find(d => d.meta === 'chi-marker'); return t ? t.x[0] : null; })()"
THUMB = "parseFloat(document.querySelector('[data-testid=\"stSliderThumbValue\"]').innerText)"
CAPTION = "[...document.querySelectorAll('[data-testid=\"stMain\"] [data-testid=\"stCaptionContainer\"]')]" \
          ".map(e => e.innerText).join(' ')"


async def wait_done(page, want: str, t_action_ms: float, timeout_s: float = ACTION_TIMEOUT_S) -> float:
    """Seconds from ``t_action_ms`` (epoch ms) until the page was idle with ``want`` true (and stayed so); to within
    POLL_MS."""
    await page.evaluate("() => { window.__mcSince = null; }")
    handle = await page.wait_for_function(IDLE_JS.replace("WANT", want).replace("QUIET", str(QUIET_MS)),
                                          timeout=timeout_s * 1000, polling=POLL_MS)
    since = await handle.json_value()
    return max(0.0, (since - t_action_ms) / 1000)


async def exceptions(page) -> list[str]:
    loc = page.locator('[data-testid="stException"]')
    return [t[:200] for t in await loc.all_inner_texts()]


# --- one session --------------------------------------------------------------------------------------

async def session(i: int, browser, url: str, n_actions: int, delay: float, out: dict, deadline: float,
                  first_loaded: asyncio.Event):
    rng = random.Random(1000 + i)
    await asyncio.sleep(delay)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_S * 1000)  # a key press or a fill on a starved browser takes its time
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)[:200]))
    try:
        t0 = time.time() * 1000
        try:
            await page.goto(url, wait_until="domcontentloaded", timeout=LOAD_TIMEOUT_S * 1000)
            out["load"].append(await wait_done(page, f"{MARKER} !== null", t0, LOAD_TIMEOUT_S))
        except Exception as exc:  # noqa: BLE001  (a failed load is a measured error)
            out["errors"].append(f"session {i}: load failed: {type(exc).__name__}: {str(exc)[:120]}")
            return
        first_loaded.set()
        settings = dict(out["preset"])
        for a in range(n_actions):
            if time.time() > deadline:
                out["errors"].append(f"session {i}: stopped at the time limit after {a} actions")
                break
            kind = "chi" if a % 2 == 0 else "sidebar"
            target = text = None
            try:
                if kind == "chi":
                    grid = await page.evaluate(f"() => {GD}.layout.sliders[0].steps.map(s => parseFloat(s.label))")
                    x0 = await page.evaluate(f"() => {MARKER}")
                    j = min(range(len(grid)), key=lambda q: abs(grid[q] - x0))
                    n = rng.randint(1, 3)
                    key = "ArrowRight" if j + n < len(grid) else "ArrowLeft"
                    target = grid[j + n] if key == "ArrowRight" else grid[j - n]
                    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
                    t0 = time.time() * 1000
                    await thumb.focus()
                    for _ in range(n):
                        await thumb.press(key)
                    dt = await wait_done(page, f"{MARKER} === {target} && {THUMB} === {target}", t0)
                else:
                    field = rng.choice(list(SIDEBAR_POOL))
                    label, shown, pool = SIDEBAR_POOL[field]
                    value = rng.choice([p for p in pool if p != settings.get(field)])
                    settings[field] = value
                    box = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]').filter(
                        has_text=label).locator("input")
                    text = f"{value:g}" if isinstance(value, float) else str(value)
                    t0 = time.time() * 1000
                    await box.fill(text)
                    await box.press("Enter")
                    if field == "seed":  # the caption does not show the seed: the URL does
                        want = f"new URL(location.href).searchParams.get('seed') === '{text}'"
                    else:
                        want = f"/(^|[ ,·]){shown} = {text}(,| |$)/.test({CAPTION})"
                    dt = await wait_done(page, f"{want} && {MARKER} !== null", t0)
                out[kind].append(dt)
            except Exception as exc:  # noqa: BLE001  (a timeout or a vanished element is a measured error)
                try:
                    seen = await page.evaluate(f"() => [{MARKER}, {THUMB}, location.search, {CAPTION}.slice(0, 120)]")
                except Exception:  # noqa: BLE001
                    seen = None
                out["errors"].append(f"session {i}: {kind} action {a} failed: {type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0][:120]} (wanted {target if kind == 'chi' else text}; "
                                     f"marker, slider, URL, caption: {seen})")
            shown_exc = await exceptions(page)
            if shown_exc:
                out["errors"].append(f"session {i}: exception shown after action {a}: {shown_exc[0]}")
                break
    finally:
        out["errors"].extend(f"session {i}: page error: {e}" for e in page_errors)
        out["active"] -= 1
        await ctx.close()


async def load(server: Server, sampler: Sampler, args, preset: dict) -> dict:
    from playwright.async_api import async_playwright

    query = Settings(**preset).to_query()
    url = f"{server.url}/?{urllib.parse.urlencode(query)}"
    out = {"load": [], "chi": [], "sidebar": [], "errors": [], "preset": preset, "active": args.sessions}
    deadline = time.time() + args.max_seconds
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            first = asyncio.Event()
            # the first session alone (the server's first page: imports and the first curves), then the class
            t_first = asyncio.create_task(session(0, browser, url, args.actions, 0.0, out, deadline, first))
            await asyncio.wait([asyncio.ensure_future(first.wait()), t_first], return_when=asyncio.FIRST_COMPLETED)
            out["rss_first"] = sampler.now()
            rest = [asyncio.create_task(session(i, browser, url, args.actions, args.stagger * i, out, deadline,
                                                asyncio.Event()))
                    for i in range(1, args.sessions)]
            await asyncio.wait_for(asyncio.gather(t_first, *rest), timeout=args.max_seconds + 60)
        finally:
            await browser.close()
    return out


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=3, help=f"concurrent browser sessions (1..{MAX_SESSIONS})")
    ap.add_argument("--actions", type=int, default=6, help=f"actions per session, χ and sidebar in turn "
                                                           f"(1..{MAX_ACTIONS})")
    ap.add_argument("--idle", type=float, default=30, help="seconds with no session before the last RSS reading "
                                                           f"(the target: 600; at most {MAX_IDLE_S})")
    ap.add_argument("--preset", default="Teaching (small, fast)", choices=list(PRESETS))
    ap.add_argument("--stagger", type=float, default=1.0, help="seconds between two sessions' arrivals")
    ap.add_argument("--max-seconds", type=float, default=900, help="wall-clock limit of the load phase")
    ap.add_argument("--server-arg", action="append", default=[], help="extra `streamlit run` option (repeatable), "
                                                                       "e.g. --server-arg=--runner.postScriptGC=false")
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        ap.error(f"'--sessions' must be in 1..{MAX_SESSIONS}; got {args.sessions}")
    if not 1 <= args.actions <= MAX_ACTIONS:
        ap.error(f"'--actions' must be in 1..{MAX_ACTIONS}; got {args.actions}")
    if not 0 <= args.idle <= MAX_IDLE_S:
        ap.error(f"'--idle' must be in 0..{MAX_IDLE_S}; got {args.idle}")
    if not os.path.exists(CHROMIUM):
        ap.error(f"{CHROMIUM} not found (install Debian's chromium)")
    preset = Settings.from_preset(args.preset).to_dict()
    # a `kill` (or the timeout command) ends the run through the finally clauses: the server and Chromium stop too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_start = os.getloadavg()
    with Server(args.server_arg) as server:
        sampler = Sampler(server)
        sampler.start()
        rss_start = sampler.now()
        t0 = time.time()
        try:
            out = asyncio.run(load(server, sampler, args, preset))
        finally:
            t_load = time.time() - t0
        load_during = os.getloadavg()
        cpu = sampler.cpu_seconds()
        rss_end = sampler.now()
        peak = max(r for _, r in sampler.samples)
        time.sleep(args.idle)  # no session left: what the server gives back by itself
        rss_idle = sampler.now()
        sampler.stop.set()
        server.log.seek(0)
        log_tail = [ln for ln in server.log.read().splitlines() if "Traceback" in ln or "Error" in ln]
    rows = [
        ("sessions × actions", f"{args.sessions} × {args.actions} ({args.preset})", "30 × …"),
        ("errors", f"{len(out['errors'])}", "0"),
        ("first page, median / 95th (s)", f"{pct(out['load'], 50):.2f} / {pct(out['load'], 95):.2f}", "–"),
        ("χ move, median / 95th (s)", f"{pct(out['chi'], 50):.2f} / {pct(out['chi'], 95):.2f} "
                                      f"(n = {len(out['chi'])})", "–"),
        ("sidebar change, median / 95th (s)", f"{pct(out['sidebar'], 50):.2f} / {pct(out['sidebar'], 95):.2f} "
                                              f"(n = {len(out['sidebar'])})", "≤ 1.5 / ≤ 5"),
        ("all actions, median / 95th (s)",
         f"{pct(out['chi'] + out['sidebar'], 50):.2f} / {pct(out['chi'] + out['sidebar'], 95):.2f}", "–"),
        ("server RSS at start / after the first page (MiB)", f"{rss_start:.0f} / {out.get('rss_first', 0):.0f}",
         "–"),
        ("server RSS peak / at the end of the load (MiB)", f"{peak:.0f} / {rss_end:.0f}", "≤ 1536"),
        (f"server RSS after {args.idle:g} s idle (MiB)",
         f"{rss_idle:.0f} ({100 * (rss_idle / out.get('rss_first', rss_start) - 1):+.0f} % of after-first-page)",
         "within 20 % (600 s)"),
        ("load phase (s); CPU seconds in it: server / browser",
         f"{t_load:.0f}; {cpu.get('server', 0):.0f} / {cpu.get('browser', 0):.0f}", "–"),
        ("load average 1/5/15 min: before / end of load",
         " / ".join(",".join(f"{x:.1f}" for x in la) for la in (load_start, load_during)) + f" ({os.cpu_count()} "
         "CPUs)", "–"),
    ]
    print("| quantity | measured | target |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print()
    print("RSS over time (s: MiB): " + ", ".join(f"{t:.0f}: {r:.0f}" for t, r in sampler.samples[::max(
        1, len(sampler.samples) // 30)]))
    if out["errors"]:
        print("\nErrors:")
        for e in out["errors"][:30]:
            print(f"- {e}")
    if log_tail:
        print("\nServer log lines with errors:", *log_tail[:10], sep="\n- ")
    return 0 if not out["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
