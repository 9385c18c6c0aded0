"""Helpers the spark-tier tests import (kept out of conftest.py: several tiers have one)."""

from __future__ import annotations

import json
from pathlib import Path

from fruits.config.job_config import JobConfig

# A seed no other test uses: its model cannot already sit in a reused Python worker.
REFERENCE_SEED = 1234


def job_config(input_uri, output_uri, **overrides) -> JobConfig:
    settings = dict(weights="random", pca_variance=0.9, batch_size=16, files_per_partition=8)
    settings.update(overrides)
    return JobConfig(input_uri=str(input_uri), output_uri=str(output_uri), **settings).validate()


def read_metrics(output: Path) -> dict:
    run_id = (output / "_CURRENT").read_text().strip()
    return json.loads((output / "runs" / run_id / "metrics.json").read_text())
