"""The HTML view in a real headless Firefox: offline, silent, inert, readable, navigable.

Firefox is Debian's ``/usr/bin/firefox-esr``, driven over WebDriver BiDi by
``puppeteer-core`` (tests/browser/package.json; it downloads no browser) through
the small line-protocol driver ``firefox_driver.mjs``. The same promises as the
Chromium tests in test_html_view.py, in the second engine the issue names.

Network use has two witnesses: BiDi request interception (every request not for
file:// is recorded and aborted) and a local proxy the fresh profile sends all
HTTP and HTTPS to (every connection that reaches it is recorded).
``test_witnesses_see_what_a_page_asks_for`` shows that both fire.

``.ci/run`` installs Firefox and the driver's packages and sets
``REASONKIT_INTEROP_REQUIRED=1``, which turns a missing one into a failure;
elsewhere these tests are skipped without them.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.browser.sample import ARABIC, CHINESE, HEBREW, JAPANESE, KOREAN, write_sample
from tests.browser.test_html_view import _CONTRAST, _INERT, DESKTOP, PHONE
from tests.browser.xss import corpus

HERE = Path(__file__).parent
DRIVER = HERE / "firefox_driver.mjs"
# Firefox's own list-marker font (@font-face -moz-bullet-font in its user-agent
# stylesheet html.css) is a data: URL that BiDi reports as a request when a page
# has a list. It is part of the browser, never network; the pages' CSP
# (default-src 'none') would refuse any font of theirs.
BULLET_FONT = "data:font/woff2;base64,"
ANSWER_TIMEOUT = 90.0  # seconds for one command, start-up included, on a loaded machine

pytestmark = pytest.mark.slow


def _missing(what: str) -> NoReturn:
    if os.environ.get("REASONKIT_INTEROP_REQUIRED") == "1":
        pytest.fail(f"{what}; .ci/run installs it")
    pytest.skip(what)


def _firefox() -> str:
    configured = os.environ.get("REASONKIT_TEST_FIREFOX")
    if configured:
        if not Path(configured).is_file():
            _missing(f"Firefox not found at {configured} (REASONKIT_TEST_FIREFOX)")
        return configured
    for name in ("firefox-esr", "firefox"):
        found = shutil.which(name)
        if found:
            return found
    _missing("Firefox is not installed (apt-get install firefox-esr)")


class Firefox:
    """One headless Firefox behind firefox_driver.mjs; commands are JSON lines."""

    def __init__(self, executable: str, log: Path) -> None:
        self.log_path = log
        self.log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            ["node", str(DRIVER)],
            cwd=HERE,
            env={**os.environ, "REASONKIT_FIREFOX": executable},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            encoding="utf-8",
        )
        self.answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put("")

    def __call__(self, cmd: str, **arguments: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        self.process.stdin.flush()
        try:
            line = self.answers.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"Firefox driver gave no answer to {cmd} in {ANSWER_TIMEOUT} s")
        if not line:
            self.process.wait(timeout=10)
            self.log.flush()
            log = self.log_path.read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"Firefox driver exited: {log[-2000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"{cmd}: {answer['error']}")
        return answer["ok"]

    def close(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write('{"cmd": "close"}\n')
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()
            self.log.close()


@pytest.fixture(scope="module")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Firefox]:
    """One headless Firefox for the module (its driver's log in a temporary folder)."""
    executable = _firefox()
    if shutil.which("node") is None:
        _missing("Node.js is not installed")
    if not (HERE / "node_modules" / "puppeteer-core").is_dir():
        _missing("puppeteer-core is not installed (cd tests/browser && npm ci)")
    instance = Firefox(executable, tmp_path_factory.mktemp("firefox") / "driver.log")
    try:
        assert instance("version").startswith("firefox/")
        instance("events")  # anything the start-up itself did is not the pages'
        yield instance
    finally:
        instance.close()


class Watched:
    """The Firefox page at one viewport; what the witnesses saw is kept here."""

    def __init__(self, firefox: Firefox, viewport: dict[str, int]) -> None:
        self.firefox = firefox
        firefox("viewport", **viewport)
        self.requests: list[str] = []
        self.leaked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []

    def open(self, path: Path) -> str:
        url: str = self.firefox("open", url=path.as_uri())
        return url

    def click(self, text: str) -> str:
        url: str = self.firefox("click", text=text)
        return url

    def evaluate(self, js: str) -> Any:
        return self.firefox("evaluate", js=js)

    def text(self, selector: str) -> str:
        text: str = self.evaluate(f"document.querySelector({selector!r}).innerText")
        return text

    def collect(self) -> None:
        seen = self.firefox("events")
        self.requests += seen["requests"]
        self.leaked += seen["leaked"]
        self.errors += seen["errors"]
        self.dialogs += seen["dialogs"]

    def assert_quiet(self) -> None:
        """No request left the page or the browser; nothing logged an error; nothing ran."""
        self.collect()
        assert [url for url in self.requests if not url.startswith(BULLET_FONT)] == []
        assert self.leaked == []
        assert self.errors == []
        assert self.dialogs == []


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample export, unpacked (English, Berlin time, three records per page)."""
    return write_sample(tmp_path_factory.mktemp("view") / "export.zip", history=9, per_page=3)


def test_witnesses_see_what_a_page_asks_for(firefox: Firefox, tmp_path: Path) -> None:
    """A page that asks for the network, logs an error and runs script is caught by each witness."""
    page = tmp_path / "noisy.html"
    page.write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title>'
        '<meta http-equiv="Content-Security-Policy" content="style-src-attr \'none\'">'
        '<link rel="stylesheet" href="http://example.invalid/x.css"></head><body>'
        '<p style="color:red">refused style</p><img src="https://example.invalid/x.png" alt="">'
        '<img src="https://ping.canary.invalid/x.png" alt="">'
        '<script>console.error("noisy"); document.title = "ran"; alert("hi")</script>'
        "</body></html>",
        encoding="utf-8",
    )
    watched = Watched(firefox, DESKTOP)
    watched.open(page)
    assert watched.evaluate("document.title") == "ran"
    watched.collect()
    assert set(watched.requests) == {
        "http://example.invalid/x.css",
        "https://example.invalid/x.png",
        "https://ping.canary.invalid/x.png",
    }
    assert watched.leaked, "the proxy saw nothing"
    assert all("canary.invalid" in line for line in watched.leaked), watched.leaked
    assert "error: noisy" in watched.errors
    assert any(line.startswith("error: CSP refused style-src-attr") for line in watched.errors)
    assert watched.dialogs == ["hi"]


def test_offline_quiet_and_scripts_render(firefox: Firefox, sample: Path) -> None:
    """Every page loads from file:// with no request, no console error; all scripts are text."""
    watched = Watched(firefox, DESKTOP)
    pages = sorted(sample.rglob("*.html"))
    assert len(pages) == 7
    text = ""
    for page in pages:
        assert watched.open(page) == page.as_uri()
        assert watched.evaluate("document.documentElement.lang") == "en"
        assert watched.evaluate("document.characterSet") == "UTF-8"
        text += watched.text("body")
    watched.assert_quiet()
    for script in (ARABIC, HEBREW, CHINESE, JAPANESE, KOREAN):
        assert script in text
    watched.open(sample / "html" / "reasoning_history" / "page-1.html")
    directions = watched.evaluate(
        "(() => { const cells = [...document.querySelectorAll('td[dir=auto]')];"
        " const find = s => cells.find(td => td.textContent.includes(s));"
        " return [find('مرحبا'), find('שלום')].map(td => td && getComputedStyle(td).direction);"
        " })()"
    )
    # Mixed cells start with Latin text ("Question 1: …"), so dir=auto keeps them ltr;
    # a cell that starts in Arabic or Hebrew turns rtl (below).
    assert directions == ["ltr", "ltr"]
    for script in (ARABIC, HEBREW):
        direction = watched.evaluate(
            "(() => { const td = document.createElement('td'); td.dir = 'auto';"
            f" td.textContent = {script!r}; document.querySelector('table').append(td);"
            " return getComputedStyle(td).direction; })()"
        )
        assert direction == "rtl"
    watched.assert_quiet()


def test_navigation_across_pages(firefox: Firefox, sample: Path) -> None:
    """From index.html a reader reaches a category, pages forward and back, and returns."""
    watched = Watched(firefox, DESKTOP)
    watched.open(sample / "index.html")
    assert watched.click("Conversations").endswith("html/reasoning_history/index.html")
    assert watched.click("Records 1–3").endswith("page-1.html")
    assert watched.text("h1") == "Conversations"
    assert watched.click("Next ›").endswith("page-2.html")
    assert "Record 4" in watched.text("main")
    assert watched.click("Last »").endswith("page-3.html")
    assert watched.evaluate("document.querySelectorAll('article.rec').length") == 3
    assert watched.click("‹ Previous").endswith("page-2.html")
    assert watched.click("« First").endswith("page-1.html")
    assert watched.click("All pages").endswith("html/reasoning_history/index.html")
    url = watched.click("Your data export")
    assert url == (sample / "index.html").as_uri()
    watched.assert_quiet()


def test_accessible_structure(firefox: Firefox, sample: Path) -> None:
    """Headings step down one level at a time; tables have header cells; text contrast is AA."""
    watched = Watched(firefox, DESKTOP)
    for path in [sample / "index.html", sample / "html/profile/page-1.html"]:
        watched.open(path)
        levels = watched.evaluate(
            "[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])"
        )
        assert levels[0] == 1
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
        assert watched.evaluate(
            "[...document.querySelectorAll('table')].every(t => t.querySelector('th'))"
        )
        worst = watched.evaluate(_CONTRAST)
        assert worst >= 4.5, worst
    watched.assert_quiet()


def test_phone_width_zoom_and_screenshots(firefox: Firefox, sample: Path, tmp_path: Path) -> None:
    """At phone width and 200 % zoom no page scrolls sideways and no line of a value leaves
    its cell (Firefox once drew a wrapped Arabic line over the cell's left border); screenshots
    at phone, 200 % zoom and desktop width."""
    shots = []
    for name, viewport in (("phone", PHONE), ("zoom200", {"width": 640, "height": 450})):
        watched = Watched(firefox, viewport)
        assert watched.evaluate("window.innerWidth") == viewport["width"]
        for path in sorted(sample.rglob("*.html")):
            watched.open(path)
            overflow = watched.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (name, path.name, overflow)
            outside = watched.evaluate(_TEXT_OUTSIDE_CELLS)
            assert outside == [], (name, path.name, outside)
        watched.open(sample / "html/reasoning_history/page-2.html")
        shots.append(tmp_path / f"{name}.png")
        firefox("screenshot", path=str(shots[-1]), fullPage=True)
        watched.assert_quiet()
    watched = Watched(firefox, DESKTOP)
    for path in (sample / "index.html", sample / "html/profile/page-1.html"):
        watched.open(path)
        assert watched.evaluate(_TEXT_OUTSIDE_CELLS) == []
        shots.append(tmp_path / f"desktop-{path.parent.name}-{path.stem}.png")
        firefox("screenshot", path=str(shots[-1]), fullPage=True)
    watched.assert_quiet()
    assert all(shot.stat().st_size > 10_000 for shot in shots)
    keep = os.environ.get("REASONKIT_SCREENSHOTS")
    if keep:
        for shot in shots:
            shutil.copy(shot, Path(keep) / f"firefox-{shot.name}")


def test_xss_corpus_runs_nothing(firefox: Firefox, tmp_path: Path) -> None:
    """Hundreds of XSS payloads (values, keys, nested) render as text and execute nothing."""
    payloads = corpus()
    assert len(payloads) >= 200
    folder = write_sample(tmp_path / "xss.zip", history=0, hostile=payloads, per_page=100)
    watched = Watched(firefox, DESKTOP)
    pages = sorted((folder / "html" / "reasoning_history").glob("page-*.html"))
    assert len(pages) == -(-len(payloads) // 100)
    seen = ""
    for path in pages:
        watched.open(path)
        title = watched.evaluate("document.title")
        firefox("mouse", x=200, y=300)
        firefox("key", key="Tab")
        assert watched.evaluate("window.__pwned") is None
        assert watched.evaluate("document.title") == title
        inert = watched.evaluate(_INERT)
        assert inert == [], (path.name, inert[:5])
        seen += watched.text("main")
    watched.assert_quiet()
    for payload in payloads:
        visible = payload.replace("\x00", "\ufffd").replace("\u202e", "")
        assert visible.strip().split("\n")[0][:30].replace("\ufffd", "") in seen.replace(
            "\ufffd", ""
        ).replace("\u202e", "")


# Every line box of a value's text that starts left of or ends right of its cell's
# content box (1 px rounding allowed): [text, px too far left, px too far right].
_TEXT_OUTSIDE_CELLS = """
(() => {
  const out = [];
  for (const td of document.querySelectorAll('td')) {
    const style = getComputedStyle(td), box = td.getBoundingClientRect();
    const left = box.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft);
    const right = box.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight);
    for (const node of td.childNodes) {
      if (node.nodeType !== 3) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const rect of range.getClientRects()) {
        if (rect.width && (rect.left < left - 1 || rect.right > right + 1)) {
          out.push([node.textContent.slice(0, 40), left - rect.left, rect.right - right]);
        }
      }
    }
  }
  return out;
})()
"""
