"""The built book, opened page by page in a real browser (headless Chromium driven by Selenium).

Runs only when ``MGDL_CHECK_BUILT_BOOK=1`` (``make check-book``, called by CI after ``make book``); it then fails,
rather than skips, when the build or the browser is missing. For every page of ``_build/html`` it fails when

* an image does not load (``naturalWidth == 0``) or a content image has no numbered caption;
* a cell shows stderr or a traceback;
* math is left untypeset (MathJax is served from the book itself, so this holds offline);
* a table is wider than the content column at a 1280-px window;

and it saves a full-page screenshot of each page in ``_build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("MGDL_BOOK_HTML", ROOT / "_build" / "html"))   # the built book (override for tests)
SHOTS = HTML.parent / "screenshots"
WIDTH = 1280
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

pytestmark = pytest.mark.skipif(os.environ.get("MGDL_CHECK_BUILT_BOOK") != "1",
                                reason="set MGDL_CHECK_BUILT_BOOK=1 (make check-book) to check the built book")


def pages() -> list[Path]:
    if not HTML.is_dir():
        return []
    return sorted(p for p in HTML.rglob("*.html")
                  if p.name not in SKIP_PAGES and "_static" not in p.parts and "_sources" not in p.parts
                  and "_modules" not in p.parts and 'http-equiv="Refresh"' not in p.read_text()[:500])


def _find(names: list[str]) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture
def browser():
    """A fresh headless Chromium per page (a page that hangs cannot stall the next one)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = _find(["chromium", "chromium-browser", "/usr/bin/chromium"])
    driver_path = _find(["chromedriver", "/usr/bin/chromedriver"])
    if binary is None or driver_path is None:
        pytest.fail("Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},1000", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(100)   # below the driver's 120-s read timeout: a hung page fails with a clear error
    yield drv
    drv.quit()


def test_the_book_was_built():
    assert (HTML / "index.html").is_file(), "no built book in _build/html: run `make book` first"
    assert len(pages()) >= 5, f"only {len(pages())} pages in _build/html"


# what each page is checked for, as one script run in the page once MathJax has finished
PAGE_REPORT = """
const done = arguments[arguments.length - 1];
// MathJax loads asynchronously: wait (up to 60 s) for it to start, then for its first typesetting pass
const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const hasMath = article.querySelector('.math') && [...document.scripts].some(s => /mathjax/i.test(s.src));
const started = new Promise(resolve => {
  const t0 = Date.now();
  (function poll() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) resolve(MathJax.startup.promise);
    else if (!hasMath || Date.now() - t0 > 60000) resolve();
    else setTimeout(poll, 100);
  })();
});
const ready = started;
ready.then(() => {
  const report = {broken_images: [], uncaptioned_images: [], stderr: [], raw_math: [], wide_tables: [],
                  mathjax_src: [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))};
  for (const img of article.querySelectorAll('img')) {
    const name = img.getAttribute('src') || '?';
    if (!img.complete || img.naturalWidth === 0) report.broken_images.push(name);
    const fig = img.closest('figure');
    if (!fig || !fig.querySelector('figcaption .caption-number')) report.uncaptioned_images.push(name);
  }
  for (const el of article.querySelectorAll('.output.stderr, .output.traceback, .traceback, div.stderr'))
    report.stderr.push(el.innerText.slice(0, 200));
  for (const el of article.querySelectorAll('pre'))
    if (el.innerText.includes('Traceback (most recent call last)')) report.stderr.push(el.innerText.slice(0, 200));
  for (const el of document.querySelectorAll('.math'))   // the navigation too: page titles are listed there
    if (!el.querySelector('mjx-container') && !el.closest('mjx-container')) report.raw_math.push(el.innerText.slice(0, 80));
  const column = article.getBoundingClientRect().width;
  for (const t of article.querySelectorAll('table')) {
    const w = Math.max(t.scrollWidth, t.getBoundingClientRect().width);
    if (w > column + 1) report.wide_tables.push(`${Math.round(w)} px > ${Math.round(column)} px: ` +
                                                (t.querySelector('caption') || t).innerText.slice(0, 80));
  }
  done(report);
});
"""


def _screenshot(drv, page: Path) -> None:
    import base64

    SHOTS.mkdir(parents=True, exist_ok=True)
    height = int(drv.execute_script("return document.documentElement.scrollHeight"))
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": min(height, 30000), "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = drv.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    name = str(page.relative_to(HTML).with_suffix(".png")).replace(os.sep, "__")
    (SHOTS / name).write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_reads_well(browser, page):
    browser.get(page.as_uri())
    report = browser.execute_async_script(PAGE_REPORT)
    _screenshot(browser, page)
    remote = [s for s in report.pop("mathjax_src") if s.startswith(("http:", "https:"))]
    problems = {k: v for k, v in report.items() if v}
    if remote:
        problems["mathjax_from_network"] = remote
    assert not problems, f"{page.relative_to(HTML)}: {problems}"
