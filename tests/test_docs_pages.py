"""Every benchmark page of the documentation leads with a figure (issue 22).

Fast and without a Sphinx build: each ``docs/*_benchmark.rst`` must have, before its
first table, a ``.. figure::`` or ``.. image::`` directive whose file exists (path
relative to the rst file, or to ``docs/`` when it starts with ``/``).
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*_benchmark.rst"))

IMAGE = re.compile(r"^\s*\.\. (?:figure|image)::\s*(\S+)\s*$")
# a directive table, or the top border of a simple or grid table
TABLE = re.compile(r"^\s*(?:\.\. (?:list-table|csv-table|table)::|=+(?: +=+)+\s*$|\+(?:-+\+)+\s*$)")


def _first_image_before_table(text):
    for line in text.splitlines():
        match = IMAGE.match(line)
        if match:
            return match.group(1)
        if TABLE.match(line):
            return None
    return None


def test_benchmark_pages_found():
    assert PAGES, "no docs/*_benchmark.rst page found"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_benchmark_page_leads_with_figure(page):
    target = _first_image_before_table(page.read_text(encoding="utf-8"))
    assert target is not None, f"{page.name}: no figure or image before the first table"
    path = DOCS / target.lstrip("/") if target.startswith("/") else page.parent / target
    assert path.is_file(), f"{page.name}: figure file {target} does not exist"
