"""Build the documentation site and look at it in a real browser.

- `mkdocs build --strict` must pass, every page of the guide and of the API reference must
  be built, and no page may load a script or a stylesheet from another host (the math
  renderer, KaTeX, is vendored under docs/javascripts/katex/: there is no network).
- The built site is served on 127.0.0.1 and every page of the guide is opened in headless
  Chromium: after its JavaScript ran, each formula must have been typeset by KaTeX, with
  no KaTeX error and no raw `$`, `\\(` or `\\[` left in the visible text.
- A screenshot of the Conv2d page is saved to reports/docs-conv-page.png.

The tests are skipped when the docs extra (mkdocs & co.) is not installed, and the browser
tests when Chromium is not (`apt-get install chromium`; .ci/run installs it).
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

for _module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "pymdownx"):
    pytest.importorskip(_module, reason="the docs extra is not installed (pip install -e '.[docs]')")

import yaml  # noqa: E402  (a dependency of mkdocs)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDE = sorted(p.stem for p in DOCS.glob("*.md"))
REFERENCE = sorted(p.stem for p in (DOCS / "reference").glob("*.md"))
SCREENSHOT = ROOT / "reports" / "docs-conv-page.png"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000",
]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def page_path(stem: str, folder: str = "") -> str:
    """The URL path of a built page (mkdocs' directory URLs)."""
    prefix = f"{folder}/" if folder else ""
    return f"{prefix}" if stem == "index" else f"{prefix}{stem}/"


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built with `mkdocs build --strict` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server(site):
    """The built site served over HTTP on 127.0.0.1 (a free port), from a thread."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def run_chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Headless Chromium with a throw-away profile."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout,
        )


# -- reading the DOM Chromium dumps ----------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_INVISIBLE_TAGS = {"script", "style", "noscript", "template", "code", "pre", "annotation", "title"}


class MathReport(html.parser.HTMLParser):
    """Counts formulas and KaTeX output, and collects the text a reader sees."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, hidden, is a formula)
        self.formulas = 0  # elements pymdownx.arithmatex marked
        self.rendered = 0  # ... of which contain KaTeX output
        self.katex_errors = 0
        self._formula_has_katex: list[bool] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if "katex" in classes and self._formula_has_katex:
            self._formula_has_katex[-1] = True
        if "katex-error" in classes:
            self.katex_errors += 1
        if tag in _VOID:
            return
        hidden = (bool(self.stack) and self.stack[-1][1]) or tag in _INVISIBLE_TAGS or "katex-mathml" in classes
        formula = "arithmatex" in classes
        if formula:
            self.formulas += 1
            self._formula_has_katex.append(False)
        self.stack.append((tag, hidden, formula))

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        while self.stack:
            open_tag, _, formula = self.stack.pop()
            if formula:
                self.rendered += self._formula_has_katex.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        if not (self.stack and self.stack[-1][1]):
            self.visible.append(data)

    @property
    def text(self) -> str:
        return "".join(self.visible)


def math_report(dom: str) -> MathReport:
    report = MathReport()
    report.feed(dom)
    report.close()
    return report


# -- tests -----------------------------------------------------------------------------


def test_every_guide_page_is_in_the_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def files(nav):
        for entry in nav:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from (files(value) if isinstance(value, list) else [value])

    listed = set(files(config["nav"]))
    pages = {f"{stem}.md" for stem in GUIDE} | {f"reference/{stem}.md" for stem in REFERENCE}
    assert pages == listed


def test_site_builds_strict_and_offline(site):
    for stem in GUIDE:
        assert (site / page_path(stem) / "index.html").is_file(), stem
    for stem in REFERENCE:
        assert (site / page_path(stem, "reference") / "index.html").is_file(), stem
    for name in ("katex.min.js", "auto-render.min.js", "katex.min.css"):
        assert (site / "javascripts" / "katex" / name).is_file(), name
    # formulas were turned into arithmatex elements, and nothing is fetched from elsewhere
    conv = (site / "conv2d" / "index.html").read_text(encoding="utf-8")
    assert conv.count('class="arithmatex"') > 50
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for marker in ('src="http', "src='http", 'src="//', 'rel="stylesheet" href="http', "fonts.googleapis"):
            assert marker not in text, f"{page.relative_to(site)} loads {marker!r}: the site must work offline"
    # the API reference is generated from the docstrings, module docstrings included
    reference = (site / "reference" / "nn" / "index.html").read_text(encoding="utf-8")
    assert "Conv2d" in reference and "im2col" in reference and "BatchNorm2d" in reference


@needs_chromium
def test_formulas_render_in_chromium(server):
    def dump(stem):
        result = run_chromium("--dump-dom", server + page_path(stem))
        return stem, result

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        dumps = list(pool.map(dump, GUIDE))
    for stem, result in dumps:
        assert result.returncode == 0 and "</html>" in result.stdout, (
            f"{stem}: chromium failed ({result.returncode}):\n{result.stderr[-2000:]}")
        report = math_report(result.stdout)
        source = (DOCS / f"{stem}.md").read_text(encoding="utf-8")
        if any(mark in source for mark in ("\\(", "\\[", "$")):  # a page of math (not architecture or inspect)
            assert report.formulas > 0, f"{stem}: no formula found"
        assert report.rendered == report.formulas, (
            f"{stem}: {report.formulas - report.rendered} of {report.formulas} formulas were not typeset by KaTeX")
        assert report.katex_errors == 0, f"{stem}: {report.katex_errors} KaTeX errors"
        for raw in ("$$", "$", "\\(", "\\)", "\\[", "\\]"):
            at = report.text.find(raw)
            assert at < 0, f"{stem}: raw {raw!r} in the visible text: ...{report.text[max(0, at - 80):at + 80]}..."


@needs_chromium
def test_screenshot_of_the_convolution_page(server, tmp_path):
    raw = tmp_path / "conv.png"
    result = run_chromium(f"--screenshot={raw}", "--window-size=1200,1600", server + page_path("conv2d"))
    assert result.returncode == 0 and raw.is_file(), f"chromium failed ({result.returncode}):\n{result.stderr[-2000:]}"
    from PIL import Image

    with Image.open(raw) as image:
        assert image.size == (1200, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 16, "the screenshot is blank"
        # a palette image keeps the committed file small; text and formulas stay sharp
        SCREENSHOT.parent.mkdir(exist_ok=True)
        image.convert("RGB").quantize(colors=64).save(SCREENSHOT, optimize=True)
    assert SCREENSHOT.stat().st_size < 400_000
