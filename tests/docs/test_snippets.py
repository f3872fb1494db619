"""Run the guide's snippets: one test per page of docs/*.md.

Every page of the guide ends with a fenced ```python block that checks its derivation
against the library (gradcheck, or a formula compared with a layer's backward). This test
extracts the page's python blocks and executes them in order in one fresh namespace, so a
formula in the docs cannot drift away from the code without a test failing. Tracebacks
point at the page's own line numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str, int]]:
    """(first line number of the code, code, end offset of the fence) of each python block."""
    return [(text.count("\n", 0, m.start(1)), m.group(1), m.end()) for m in FENCE.finditer(text)]


def test_the_guide_has_pages():
    assert len(PAGES) >= 10, [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_snippets_run(page: Path):
    text = page.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert blocks, f"{page.name}: every page of the guide must end with a runnable ```python snippet"
    assert not text[blocks[-1][2]:].strip(), f"{page.name}: the page must end with its snippet"
    namespace = {"__name__": f"docs_snippet_{page.stem.replace('-', '_')}"}
    for first_line, code, _ in blocks:
        # pad with newlines so that line numbers in a traceback are the page's own
        exec(compile("\n" * first_line + code, str(page), "exec"), namespace)
