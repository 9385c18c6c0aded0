"""The docs a newcomer reads stay short: today's facts, not a lab notebook (history goes to CHANGELOG.md)."""

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(("name", "limit"), [("performance.md", 12_000), ("decisions.md", 15_000)])
def test_doc_stays_within_its_size(name, limit):
    size = len((DOCS / name).read_bytes())
    assert size <= limit, f"docs/{name} is {size:,} bytes, over {limit:,}: keep today's facts, move history to CHANGELOG.md"
