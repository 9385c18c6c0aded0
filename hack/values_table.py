"""The values table of a chart's README, generated from the `# --` comments of values.yaml.

Every key that values.yaml documents carries a comment block starting with `# --` right above
it (the convention of helm-docs and of the Kubeflow charts); the text up to the key is its
description. This script writes the table between the README's `<!-- values:start -->` and
`<!-- values:end -->` markers, so the table cannot drift from values.yaml: the chart tests
regenerate it and compare.

Usage: python3 hack/values_table.py CHART_DIR [--check]
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

START, END = "<!-- values:start -->", "<!-- values:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")


@dataclass(frozen=True)
class Documented:
    """One documented key: its dotted path, default value and description."""

    path: str
    default: Any
    description: str


def documented_keys(values_text: str) -> list[Documented]:
    """The keys of a values.yaml that have a `# --` comment, in file order.

    >>> documented_keys("# -- Replicas.\\nreplicas: 1\\nimage:\\n  # -- Tag.\\n  tag: v1\\n")
    [Documented(path='replicas', default=1, description='Replicas.'), \
Documented(path='image.tag', default='v1', description='Tag.')]
    """
    values = yaml.safe_load(values_text) or {}
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    found = []
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if text.startswith("--"):
                comment = [text[2:].strip()]
            elif comment:
                comment.append(text)
            continue
        match = _KEY.match(line)
        if not match:
            if not stripped:
                comment = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        if comment:
            keys = [k for _, k in stack]
            found.append(Documented(".".join(keys), _lookup(values, keys), " ".join(comment).strip()))
        comment = []
    return found


def _lookup(values: Any, keys: list[str]) -> Any:
    for key in keys:
        values = values[key]
    return values


def _type(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}.get(
        type(value), "null"
    )


def table(chart_dir: Path) -> str:
    """The markdown table of the chart's documented values."""
    rows = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for doc in documented_keys((chart_dir / "values.yaml").read_text()):
        default = json.dumps(doc.default, separators=(",", ":"))
        cell = doc.description.replace("|", "\\|")
        rows.append(f"| `{doc.path}` | {_type(doc.default)} | `{default}` | {cell} |")
    return "\n".join(rows) + "\n"


def with_table(readme: str, new_table: str) -> str:
    """The README text with the table between the markers replaced."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    if not rest:
        raise ValueError(f"README has no {START} ... {END} markers")
    return f"{head}{START}\n{new_table}{END}{tail}"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    chart_dir = Path(argv[0])
    readme_path = chart_dir / "README.md"
    readme = readme_path.read_text()
    updated = with_table(readme, table(chart_dir))
    if "--check" in argv[1:]:
        if updated != readme:
            print(f"{readme_path}: values table is stale; run `make chart-docs`", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
