"""One local Spark for the whole tier, and one reference run of the job that most tests read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fruits.config import JobConfig
from fruits.job import run_job
from fruits.session import build_session

pytestmark = pytest.mark.spark

REFERENCE_SEED = 1234


@pytest.fixture(scope="session")
def spark():
    session = build_session(JobConfig(input_uri="", output_uri="", master="local[2]"), app_name="fruits-tests")
    yield session
    session.stop()


def job_config(input_uri, output_uri, **overrides) -> JobConfig:
    settings = dict(weights="random", pca_variance=0.9, batch_size=16, files_per_partition=8)
    settings.update(overrides)
    return JobConfig(input_uri=str(input_uri), output_uri=str(output_uri), **settings).validate()


@pytest.fixture(scope="session")
def reference_run(spark, small_sample, tmp_path_factory):
    """The job on the small sample with random weights, keeping a 90% variance target."""
    output = tmp_path_factory.mktemp("lake") / "out"
    # A seed no other test uses: its model cannot already sit in a reused Python worker.
    result = run_job(job_config(small_sample, output, seed=REFERENCE_SEED), spark)
    return result


def read_metrics(output: Path) -> dict:
    run_id = (output / "_CURRENT").read_text().strip()
    return json.loads((output / "runs" / run_id / "metrics.json").read_text())
