"""Helpers the spark-tier tests import (kept out of conftest.py: several tiers have one)."""

from __future__ import annotations

from pathlib import Path

import tablekit
from fruits.config.job_config import JobConfig
from fruits.config.uris import local_path

# A seed no other test uses: its model cannot already sit in a reused Python worker.
REFERENCE_SEED = 1234
# The job's default model, for the reference run and the tests that compare with it (or whose subject
# is ResNet50's 2048 features). Every other run takes EfficientNet-Lite0 with random weights: about a
# tenth of ResNet50's work per image, and the model is not what those tests are about.
REFERENCE_MODEL = "resnet50"
QUICK_MODEL = "efficientnet-lite0"
# int8 runs of it take its ImageNet weights: quantized, its random weights give every image the same
# vector (the run then stops: "the features do not vary at all").
QUICK_INT8 = dict(model=QUICK_MODEL, weights="imagenet", precision="int8")


def job_config(input_uri, output_uri, **overrides) -> JobConfig:
    settings = dict(model=QUICK_MODEL, weights="random", pca_variance=0.9, batch_size=16, files_per_partition=8)
    settings.update(overrides)
    return JobConfig(input_uri=str(input_uri), output_uri=str(output_uri), **settings).validate()


def read_metrics(output: Path) -> dict:
    return tablekit.metrics(output)


def table_of(spark, result, name: str = "features"):
    """Table `name` of a run (a RunResult) as Spark reads it: the files of the run's snapshot."""
    output = local_path(result.run.output)
    return spark.read.parquet(*tablekit.files(output, name, result.run.run_id))
