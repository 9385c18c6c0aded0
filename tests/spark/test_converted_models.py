"""The output's converted models (fruits.pipeline.converted): converted once, found and checked by
hash by every later run of the same settings, a corrupt one detected and made again; and the
tensorflow runtime, kept for comparison, still served on request."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from fruits.config.layout import CONVERTED, CONVERTED_FILE, CONVERTED_MANIFEST
from fruits.config.settings import Settings
from fruits.pipeline.job import run_job
from sparkkit import QUICK_INT8, job_config

pytestmark = pytest.mark.spark


def stored_models(output: Path) -> list[Path]:
    return sorted((output / CONVERTED).glob(f"*/{CONVERTED_FILE}"))


def test_a_second_run_converts_nothing_and_a_corrupt_model_is_made_again(spark, small_sample, tmp_path, caplog):
    output = tmp_path / "out"
    first = run_job(job_config(small_sample, output, pca_k=3, pca_variance=None), spark)
    assert first.metrics["model_file"]["runtime"] == "litert" and first.metrics["model_file"]["converted"]
    [stored] = stored_models(output)
    manifest = json.loads((stored.parent / CONVERTED_MANIFEST).read_text())
    assert manifest["sha256"] == first.metrics["model_file"]["sha256"]
    assert manifest["key"]["model"] == "efficientnet-lite0" and manifest["key"]["precision"] == "fp32"

    second = run_job(job_config(small_sample, output, pca_k=3, pca_variance=None), spark)
    assert second.metrics["model_file"]["converted"] is False
    assert second.metrics["model_file"]["sha256"] == first.metrics["model_file"]["sha256"]
    assert "convert_seconds" not in second.metrics["model_file"]

    data = stored.read_bytes()
    stored.write_bytes(data[: len(data) // 2])  # a partial file under a complete manifest
    with caplog.at_level(logging.WARNING, logger="fruits.pipeline.converted"):
        third = run_job(job_config(small_sample, output, pca_k=3, pca_variance=None), spark)
    assert "fails its check" in caplog.text and "converting it again" in caplog.text
    assert third.metrics["model_file"]["converted"] is True
    assert stored.read_bytes() == data  # made again, the same bytes
    assert [f.name for f in stored.parent.iterdir() if f.name.endswith(".tmp")] == []  # no temporary left beside it


def test_int8_of_the_same_sample_is_calibrated_once_per_output(spark, small_sample, tmp_path):
    output = tmp_path / "out"
    first = run_job(job_config(small_sample, output, pca_k=3, pca_variance=None, **QUICK_INT8), spark)
    second = run_job(job_config(small_sample, output, pca_k=3, pca_variance=None, **QUICK_INT8), spark)
    assert first.metrics["model_file"]["converted"] and not second.metrics["model_file"]["converted"]
    assert second.metrics["model_file"]["sha256"] == first.metrics["model_file"]["sha256"]
    assert second.metrics["precision"]["cosine_to_fp32"] == first.metrics["precision"]["cosine_to_fp32"]
    assert len(stored_models(output)) == 1  # the int8 model alone: an int8 run converts no fp32 model

def test_the_tensorflow_runtime_builds_keras_on_the_workers(spark, small_sample, tmp_path):
    config = job_config(small_sample, tmp_path / "out", pca_k=3, pca_variance=None)
    config = dataclasses.replace(config, settings=Settings(model_runtime="tensorflow"))
    run = run_job(config, spark)
    assert run.metrics["model_file"] == {"runtime": "tensorflow", "converted": False, "sha256": None}
    assert stored_models(tmp_path / "out") == []
