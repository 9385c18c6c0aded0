"""The repository's .dockerignore is an allow-list that still holds everything images/Dockerfile
copies, so a `docker build .` (skaffold's context) never sends .venv or the caches."""

import re

import pytest

from chartkit import ROOT

pytestmark = pytest.mark.chart


def patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def regex(pattern: str) -> str:
    """Docker's pattern syntax: `**` any number of folders, `*` and `?` within one name."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return out


def sent(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    keep = True
    for pattern in patterns():
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if any(re.fullmatch(regex(pattern), "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            keep = negated
    return keep


def test_everything_the_dockerfile_copies_is_sent():
    copied = []
    for line in (ROOT / "images" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:  # --from copies from a stage
            copied += [src for src in line.split()[1:-1] if not src.startswith("--")]
    assert copied
    for source in copied:
        assert sent(source.rstrip("/")), source


@pytest.mark.parametrize("path", [".venv/bin/python", ".cache/jars/x.jar", "bin/helm", "out/demo/x", "data/sample/a.jpg",
                                  "charts/fruits-pipeline/values.yaml", "app/fruits/__pycache__/job.cpython-311.pyc"])
def test_local_environments_and_outputs_stay_behind(path):
    assert not sent(path)
