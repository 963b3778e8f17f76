"""The HTML view in a real headless Chromium: offline, silent, inert, readable, navigable.

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright (never a
downloaded browser). ``.ci/run`` installs it when missing; without it these
tests fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.sample import ARABIC, CHINESE, HEBREW, JAPANESE, KOREAN, write_sample
from tests.browser.xss import corpus

CHROMIUM = os.environ.get("REASONKIT_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs it")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


class Watched:
    """A page whose requests, console errors, dialogs and CSP reports are recorded."""

    def __init__(self, browser: Any, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport, java_script_enabled=True)
        self.requests: list[tuple[str, str]] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append((r.resource_type, r.url)))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: Path) -> None:
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def assert_quiet(self) -> None:
        """Only our own pages were requested; nothing logged an error; nothing ran."""
        assert self.blocked == []
        assert all(kind == "document" for kind, _ in self.requests), self.requests
        assert all(url.startswith("file://") for _, url in self.requests)
        assert self.errors == []
        assert self.dialogs == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample export, unpacked (English, Berlin time, three records per page)."""
    return write_sample(tmp_path_factory.mktemp("view") / "export.zip", history=9, per_page=3)


def test_offline_quiet_and_scripts_render(browser: Any, sample: Path) -> None:
    """Every page loads from file:// with no request, no console error; all scripts are text."""
    watched = Watched(browser, DESKTOP)
    try:
        pages = sorted(sample.rglob("*.html"))
        assert len(pages) == 7
        text = ""
        for page in pages:
            watched.open(page)
            assert watched.page.evaluate("document.documentElement.lang") == "en"
            text += watched.page.inner_text("body")
        watched.assert_quiet()
        for script in (ARABIC, HEBREW, CHINESE, JAPANESE, KOREAN):
            assert script in text
        watched.open(sample / "html" / "reasoning_history" / "page-1.html")
        direction = watched.page.evaluate(
            "[...document.querySelectorAll('td[dir=auto]')]"
            ".find(td => td.textContent.includes('مرحبا')) !== undefined"
        )
        assert direction
        arabic_only = watched.page.evaluate(
            "(() => { const td = document.createElement('td'); td.dir = 'auto';"
            f" td.textContent = {ARABIC!r}; document.querySelector('table').append(td);"
            " return getComputedStyle(td).direction; })()"
        )
        assert arabic_only == "rtl"
    finally:
        watched.close()


def test_navigation_across_pages(browser: Any, sample: Path) -> None:
    """From index.html a reader reaches a category, pages forward and back, and returns."""
    watched = Watched(browser, DESKTOP)
    page = watched.page
    try:
        watched.open(sample / "index.html")
        page.get_by_role("link", name="Conversations").click()
        assert page.url.endswith("html/reasoning_history/index.html")
        page.get_by_role("link", name="Records 1–3").click()
        assert page.url.endswith("page-1.html")
        assert page.inner_text("h1") == "Conversations"
        page.get_by_role("link", name="Next ›").first.click()
        assert page.url.endswith("page-2.html")
        assert "Record 4" in page.inner_text("main")
        page.get_by_role("link", name="Last »").first.click()
        assert page.url.endswith("page-3.html")
        assert page.locator("article.rec").count() == 3
        page.get_by_role("link", name="‹ Previous").first.click()
        assert page.url.endswith("page-2.html")
        page.get_by_role("link", name="« First").first.click()
        assert page.url.endswith("page-1.html")
        page.get_by_role("link", name="All pages").first.click()
        assert page.url.endswith("html/reasoning_history/index.html")
        page.get_by_role("link", name="Your data export").click()
        assert page.url.endswith("/index.html")
        assert "html/" not in page.url
        watched.assert_quiet()
    finally:
        watched.close()


def test_accessible_structure(browser: Any, sample: Path) -> None:
    """Headings step down one level at a time; tables have header cells; text contrast is AA."""
    watched = Watched(browser, DESKTOP)
    try:
        for path in [sample / "index.html", sample / "html/profile/page-1.html"]:
            watched.open(path)
            levels = watched.page.evaluate(
                "[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])"
            )
            assert levels[0] == 1
            assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
            assert watched.page.evaluate(
                "[...document.querySelectorAll('table')].every(t => t.querySelector('th'))"
            )
            worst = watched.page.evaluate(_CONTRAST)
            assert worst >= 4.5, worst
        watched.assert_quiet()
    finally:
        watched.close()


def test_phone_width_and_zoom_without_horizontal_scrolling(
    browser: Any, sample: Path, tmp_path: Path
) -> None:
    """At phone width (and 200 % zoom on a desktop) ordinary records need no sideways scrolling."""
    shots = []
    for name, viewport in (("phone", PHONE), ("zoom200", {"width": 640, "height": 450})):
        watched = Watched(browser, viewport)
        try:
            for path in sorted(sample.rglob("*.html")):
                watched.open(path)
                overflow = watched.page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, (name, path.name, overflow)
            watched.open(sample / "html/reasoning_history/page-2.html")
            shot = tmp_path / f"{name}.png"
            watched.page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)
            watched.assert_quiet()
        finally:
            watched.close()
    assert all(shot.stat().st_size > 10_000 for shot in shots)


def test_desktop_screenshot(browser: Any, sample: Path, tmp_path: Path) -> None:
    """A desktop screenshot of index.html and a category page is produced."""
    watched = Watched(browser, DESKTOP)
    try:
        for path in (sample / "index.html", sample / "html/profile/page-1.html"):
            watched.open(path)
            shot = tmp_path / f"{path.parent.name}-{path.stem}.png"
            watched.page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        watched.assert_quiet()
    finally:
        watched.close()


def test_xss_corpus_runs_nothing(browser: Any, tmp_path: Path) -> None:
    """Hundreds of XSS payloads (values, keys, nested) render as text and execute nothing."""
    payloads = corpus()
    assert len(payloads) >= 200
    folder = write_sample(tmp_path / "xss.zip", history=0, hostile=payloads, per_page=100)
    watched = Watched(browser, DESKTOP)
    try:
        pages = sorted((folder / "html" / "reasoning_history").glob("page-*.html"))
        assert len(pages) == -(-len(payloads) // 100)
        seen = ""
        for path in pages:
            watched.open(path)
            watched.page.mouse.move(200, 300)
            watched.page.keyboard.press("Tab")
            assert watched.page.evaluate("window.__pwned") is None
            inert = watched.page.evaluate(_INERT)
            assert inert == [], (path.name, inert[:5])
            seen += watched.page.inner_text("main")
        watched.assert_quiet()
        for payload in payloads:
            visible = payload.replace("\x00", "\ufffd").replace("\u202e", "")
            assert visible.strip().split("\n")[0][:30].replace("\ufffd", "") in seen.replace(
                "\ufffd", ""
            ).replace("\u202e", "")
    finally:
        watched.close()


# Elements a payload would have to create to do anything, and any on* attribute.
_INERT = """
(() => {
  const bad = [];
  const allowed = new Set(['HTML','HEAD','META','TITLE','STYLE','BODY','HEADER','NAV','P','A',
    'SPAN','MAIN','H1','H2','H3','ARTICLE','TABLE','TBODY','THEAD','TR','TH','TD','UL','OL','LI',
    'DL','DT','DD','CODE','FOOTER']);
  for (const el of document.querySelectorAll('*')) {
    if (!allowed.has(el.tagName)) bad.push(el.tagName);
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name) || /javascript:/i.test(attr.value)) bad.push(attr.name);
    }
  }
  if (document.querySelectorAll('style').length !== 1) bad.push('extra style');
  if (document.querySelectorAll('meta').length !== 4) bad.push('extra meta');
  return bad;
})()
"""

# The lowest WCAG contrast ratio between any text element's colour and its background.
_CONTRAST = """
(() => {
  const lum = c => { const [r,g,b] = c.match(/\\d+(\\.\\d+)?/g).slice(0,3).map(Number)
      .map(v => v/255).map(v => v <= 0.03928 ? v/12.92 : ((v+0.055)/1.055) ** 2.4);
    return 0.2126*r + 0.7152*g + 0.0722*b; };
  const bg = el => { for (; el; el = el.parentElement) { const c = getComputedStyle(el)
      .backgroundColor; if (c && !c.startsWith('rgba(0, 0, 0, 0)')) return c; }
    return 'rgb(255, 255, 255)'; };
  let worst = 21;
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    if (style.position === 'absolute' && style.width === '1px') continue;
    const a = lum(style.color), b = lum(bg(el));
    worst = Math.min(worst, (Math.max(a,b) + 0.05) / (Math.min(a,b) + 0.05));
  }
  return worst;
})()
"""
