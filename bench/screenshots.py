"""The README's screenshots, made by a script: ``python bench/screenshots.py [--out docs]``.

Starts ``streamlit run app.py`` (its own empty cache), opens each view in headless Chromium (Debian's
/usr/bin/chromium through Playwright) and saves a PNG of the page. The views are links, like a user's:
Regimes at the Paper Fig.-2 preset with an exact-posterior run (a reference point), Feature learning, Learning
curves, Width scaling (the exact posterior by quadrature, drawn at once) and the Theory map.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_latency import CHROMIUM, ROOT, TIMEOUT_MS, Server, open_browser, wait_idle  # noqa: E402

FIG2 = "P=80&Ptest=1000&D=200&N=100"
#: (file name or None for no picture, path and query, what to do on the page before the picture)
SHOTS = (
    (None, f"networks?{FIG2}&chi=10&chains=32&sweeps=600", "run"),  # the reference point on the Regimes picture
    ("regimes", f"?{FIG2}&chi=10", None),
    ("feature_learning", f"feature_learning?{FIG2}&chi=100", None),
    ("learning_curves", "learning_curves?P=40&Ptest=500&D=100&N=100&chi=100", None),
    ("width_scaling", "width_scaling?P=12&D=30&widths=8,16,32,64,128", None),  # the quadrature: drawn at once
    ("theory_map", f"theory_map?{FIG2}", "compute"),
)
WIDTH = 1400


def settle(page, quiet_ms: int = 1500) -> None:
    """Until the page has finished its runs and has not changed for ``quiet_ms``."""
    last, same = None, 0
    for _ in range(600):
        wait_idle(page)
        now = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').innerText.length + ':' + "
                            "document.querySelectorAll('.js-plotly-plot').length")
        same = same + 1 if now == last else 0
        last = now
        if same * 250 >= quiet_ms:
            return
        page.wait_for_timeout(250)


def shoot(page, path: Path) -> None:
    """A picture of the whole page (Streamlit scrolls inside its main block: grow the window to fit it)."""
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMainBlockContainer\"]'); "
                           "return Math.ceil(m.getBoundingClientRect().height + 120); }")
    page.set_viewport_size({"width": WIDTH, "height": max(900, min(height, 4000))})
    page.mouse.move(0, 0)  # no tooltip in the picture
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": WIDTH, "height": 1000})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNG files (default docs/)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's chromium (bash .ci/run does)")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p, Server() as server:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            for name, link, action in SHOTS:
                page.goto(f"{server.url}/{link}", wait_until="domcontentloaded")
                page.wait_for_selector('[data-testid="stMain"] h1', timeout=TIMEOUT_MS)
                settle(page)
                if action == "run":
                    page.get_by_role("button", name="Run", exact=True).click()
                    page.get_by_text("Done in").first.wait_for(timeout=TIMEOUT_MS)
                elif action == "compute":  # a map that waits for its button (drawn at once when it is quick)
                    button = page.get_by_role("button", name="Compute")
                    if button.count():
                        button.first.click()
                    try:
                        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=TIMEOUT_MS)
                    except Exception:  # noqa: BLE001  (say what the page shows)
                        raise SystemExit(f"{link}: no chart after Compute; the page shows: "
                                         + page.locator('[data-testid="stMain"]').inner_text()[-600:]) from None
                settle(page)
                if page.locator('[data-testid="stException"]').count():
                    raise SystemExit(f"{link}: the page shows an exception")
                if name is not None:
                    shoot(page, out / f"{name}.png")
                    print(f"wrote {out / (name + '.png')}")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
