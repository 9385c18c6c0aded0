"""The output layout is written once (fruits.config.layout): the trees the docs draw name only its names."""

import re
from pathlib import Path

import pytest

from fruits.config import layout

REPO = Path(__file__).resolve().parents[2]
# The names a drawn OUTPUT/... path may hold: the layout's constants, and placeholders.
KNOWN = {value for name, value in vars(layout).items() if name.isupper() and isinstance(value, str)} | {"<run_id>", "<id>"}


def drawn_paths(doc: Path) -> list[str]:
    """Every `OUTPUT/...` path at the start of a line of `doc` (its tree of the output)."""
    return re.findall(r"^OUTPUT/(\S+)", doc.read_text(encoding="utf-8"), re.MULTILINE)


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_the_docs_tree_names_only_the_layouts_names(doc):
    paths = drawn_paths(REPO / doc)
    assert paths, f"{doc} draws no OUTPUT/ tree any more: point it at fruits.config.layout instead"
    for path in paths:
        unknown = [part for part in path.strip("/").split("/")
                   if part not in KNOWN and not re.fullmatch(r"wave-N+", part)]
        assert not unknown, f"{doc}: OUTPUT/{path} names {unknown}, which fruits.config.layout does not define"


def test_every_required_artifact_is_drawn_in_operations():
    paths = " ".join(drawn_paths(REPO / "docs" / "operations.md"))
    assert all(artifact in paths for artifact in (*layout.RUN_ARTIFACTS, *layout.TABLES))
