"""Shared fixtures: generated data sets (the sample plus every kind of bad file)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fruits.sample import generate_sample  # noqa: E402
from helpers import write_bad_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> Path:
    """8 classes x 8 images (6 Training, 2 Test), plus the bad files under Training/Apple Red 2."""
    root = tmp_path_factory.mktemp("sample") / "fruits"
    generate_sample(root, classes=8, per_class=8, seed=7)
    write_bad_files(root / "Training" / "Apple Red 2")
    return root
