"""images/requirements.lock agrees with pyproject.toml, so a dependency added or moved there
without `make lock` fails here, long before an image build would install the stale lock."""

from __future__ import annotations

import re

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from chartkit import ROOT

pytestmark = pytest.mark.chart

LOCK = ROOT / "images" / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# A lock entry: "name==version \" then its "--hash=" lines, then uv's "# via" lines.
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+) \\\n(?P<body>(?:[ \t]+.*\n?)*)", re.M)


def locked() -> dict[str, tuple[str, str]]:
    """Canonical name -> (version, the entry's indented lines)."""
    return {canonicalize_name(m["name"]): (m["version"], m["body"]) for m in ENTRY.finditer(LOCK.read_text())}


def runtime_requirements() -> list[Requirement]:
    return [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]


def test_every_runtime_pin_is_locked_at_its_version():
    lock = locked()
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is in pyproject.toml but not in {LOCK.name}: run `make lock`"
        version = lock[name][0]
        assert req.specifier.contains(version, prereleases=True), \
            f"pyproject.toml wants {req}, {LOCK.name} has {version}: run `make lock`"


def test_the_lock_names_no_direct_dependency_pyproject_dropped():
    direct = {canonicalize_name(r.name) for r in runtime_requirements()}
    from_pyproject = {name for name, (_, body) in locked().items() if "fruits-pipeline (pyproject.toml)" in body}
    assert from_pyproject == direct, f"run `make lock`: locked as direct but not in pyproject.toml: {from_pyproject - direct}"


def test_the_build_requirements_are_locked_too():
    """The image installs the project with --no-build-isolation --no-index: setuptools comes from the lock."""
    lock = locked()
    for line in PYPROJECT["build-system"]["requires"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in lock and req.specifier.contains(lock[name][0]), f"{req} is not in {LOCK.name}: run `make lock`"


def test_every_locked_package_is_pinned_with_hashes():
    text = LOCK.read_text()
    entries = locked()
    requirement_lines = [line for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert len(requirement_lines) == len(entries) > len(runtime_requirements())
    for name, (_, body) in entries.items():
        assert "--hash=sha256:" in body, f"{name} has no hash in {LOCK.name}"


def test_the_image_installs_the_lock_with_its_hashes():
    dockerfile = (ROOT / "images" / "Dockerfile").read_text()
    assert "COPY images/requirements.lock " in dockerfile
    assert re.search(r"pip install [^;]*--require-hashes --no-deps -r /tmp/requirements\.lock", dockerfile)
    assert re.search(r"pip install [^;]*--no-index --no-build-isolation --no-deps -e /opt/fruits", dockerfile)
