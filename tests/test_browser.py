"""The built book in a real browser: Playwright for Python driving Debian's chromium.

Every page of _build/html (from `make book`) is served on localhost and opened; no JavaScript
error, no request outside the book, typeset math, loaded images, rendered widgets where the
notebook saved some, and a Colab launch link to the chapter's own notebook. Every page is opened
again on a phone-sized screen, where no code or output block may make the page wider.
"""

import functools
import http.server
import os
import shutil
import threading

import pytest

from book_files import ROOT, colab_url, load, toc_files

HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="the browser test needs Debian's chromium: `apt-get install chromium` "
    "(as .ci/run does); never `playwright install`",
)


@pytest.fixture(scope="module")
def base_url():
    assert (HTML / "index.html").exists(), "build the book first: make book"

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.mark.parametrize("page_file", toc_files())
def test_page(browser, base_url, page_file):
    page = browser.new_page()
    errors, outside = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on(
        "response",
        lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    page.on(
        "request",
        lambda r: (
            outside.append(r.url) if not r.url.startswith((base_url, "data:", "blob:")) else None
        ),
    )
    page.goto(base_url + page_file + ".html", wait_until="networkidle")

    has_math = page.locator(".math").count() > 0
    if has_math:
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")
        assert page.locator("mjx-container").count() > 0, "math is not typeset"
    text = page.locator("article").inner_text()
    assert "$$" not in text, "raw $$ left in the page"

    broken = page.evaluate(
        "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"images that did not load: {broken}"

    notebook = ROOT / f"{page_file}.ipynb"
    if notebook.exists():
        if load(notebook)["metadata"].get("widgets"):
            # .lm-Widget elements exist only once the widget manager has rendered the saved state
            page.wait_for_selector(".lm-Widget", state="attached", timeout=15000)
            assert page.locator(".lm-Widget").count() > 0, "saved widgets are not rendered"
        colab = page.locator("a[href*='colab.research.google.com']").evaluate_all(
            "els => els.map(e => e.href)"
        )
        assert colab_url(notebook) in colab, f"no Colab link to {notebook.name}: {colab}"

    page.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests leaving the book: {outside}"


PHONE = {"width": 390, "height": 844}

# Elements of code cells and outputs that stick out to the right of the screen, unless a
# scrolling container that fits the screen holds them (a wide table or long line then scrolls
# in its own box); and how far the page itself is wider than the screen.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = el => {
    for (let a = el.parentElement; a; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if ((o === "auto" || o === "scroll") && a.getBoundingClientRect().right <= width + 1) {
        return true;
      }
    }
    return false;
  };
  const wide = [...document.querySelectorAll(".cell_input *, .cell_output *")]
    .filter(el => el.getBoundingClientRect().right > width + 1 && !scrolls(el))
    .map(el => `${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.slice(0, 40)}`);
  return {wide: wide.slice(0, 5), page: document.documentElement.scrollWidth - width};
}"""


@pytest.mark.parametrize("page_file", toc_files())
def test_page_fits_a_phone(browser, base_url, page_file):
    page = browser.new_page(viewport=PHONE)
    page.goto(base_url + page_file + ".html", wait_until="networkidle")
    overflow = page.evaluate(OVERFLOW)
    page.close()
    assert not overflow["wide"], (
        f"blocks wider than a {PHONE['width']}-pixel screen: {overflow['wide']}"
    )
    assert overflow["page"] <= 0, f"the page is {overflow['page']} pixels wider than the screen"


def test_no_table_sits_in_an_output_box(browser, base_url):
    """Tables render as tables: no output box (<pre>) of any page holds markdown table rows."""
    page = browser.new_page()
    printed = []
    for page_file in toc_files():
        page.goto(base_url + page_file + ".html", wait_until="domcontentloaded")
        texts = page.locator(".cell_output pre").all_inner_texts()
        printed += [f"{page_file}: {t[:60]}" for t in texts if "|---" in t]
    page.close()
    assert not printed, f"markdown tables printed as text: {printed}"
