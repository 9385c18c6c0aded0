"""One local Spark for the whole tier, and one reference run of the job that most tests read."""

from __future__ import annotations

import pytest

from fruits.config.job_config import JobConfig
from fruits.pipeline.job import run_job
from fruits.spark.session import build_session
from sparkkit import REFERENCE_MODEL, REFERENCE_SEED, job_config


@pytest.fixture(scope="session")
def spark():
    session = build_session(JobConfig(input_uri="", output_uri="", master="local[2]"), app_name="fruits-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def reference_run(spark, small_sample, tmp_path_factory):
    """ResNet50 (the default) on the small sample with random weights, keeping a 90% variance target."""
    output = tmp_path_factory.mktemp("lake") / "out"
    return run_job(job_config(small_sample, output, model=REFERENCE_MODEL, seed=REFERENCE_SEED), spark)
