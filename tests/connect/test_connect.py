"""fruits.api and `fruits run --remote` on a real Spark Connect server, against the classic job.

The classic run (`fruits run --master local[2]`) is the reference: over Connect the library gives
the same rows and the same features, and `fruits run --remote` commits the same table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tablekit
from fruits.errors import ConfigError

pytestmark = pytest.mark.spark

MODEL = dict(model="efficientnet-lite0", weights="random")
K = 3


def fruits_run(sample: Path, output: Path, *spark: str) -> subprocess.CompletedProcess:
    """`fruits run` of the quick model on `sample`, in its own process (a new Spark, or a client)."""
    # A Connect client in this process marks the environment as Connect's (pyspark's own variables): not the child's.
    env = {key: value for key, value in os.environ.items() if key not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    env.update(PYSPARK_PYTHON=sys.executable, FRUITS_PROGRESS_SECONDS="1", FRUITS_DRIVER_MEMORY="1g")
    command = [sys.executable, "-m", "fruits.cli", "run", "--input", str(sample), "--output", str(output),
               "--model", MODEL["model"], "--weights", MODEL["weights"], "--pca-k", str(K), "--batch-size", "16",
               "--files-per-partition", "8", *spark]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"fruits run {' '.join(spark)} failed:\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def classic(small_sample, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("classic") / "out"
    fruits_run(small_sample, output, "--master", "local[2]")
    return output


def by_path(table) -> dict:
    return {row["path"]: row for row in table.to_pylist()}


def test_the_api_over_connect_gives_the_rows_and_features_of_the_job(remote, small_sample, classic):
    import fruits.api as api

    job = by_path(tablekit.rows(classic))
    job_rejected = {row["path"]: row["reason"] for row in tablekit.rows(classic, "rejected").to_pylist()}

    images = api.list_images(remote, str(small_sample))
    assert images.columns == ["path", "label", "split", "size", "modified", "reason"]
    features = api.featurize(images, batch_size=16, images_per_task=8, **MODEL).cache()
    rows = features.collect()
    assert len(rows) == len(job) + len(job_rejected)  # every entry once, accepted or rejected

    accepted = {r.path: r for r in rows if r.reason is None}
    assert set(accepted) == set(job)
    for path, row in accepted.items():
        assert (row.label, row.split, row.size, row.modified) == (job[path]["label"], job[path]["split"],
                                                                  job[path]["size"], job[path]["modified"])
        np.testing.assert_allclose(row.features, job[path]["features"], atol=1e-5)
    rejected = {r.path: r.reason for r in rows if r.reason is not None}
    assert rejected == job_rejected
    assert all(r.features is None for r in rows if r.reason is not None)

    # The same PCA as the job's, signs included; the model is an ordinary Spark ML one on the server.
    model = api.fit_pca(features, k=K)
    metrics = tablekit.metrics(classic)
    np.testing.assert_allclose(model.stages[-1].explainedVariance.toArray(), metrics["pca"]["explained_variance"], rtol=1e-6)
    projected = {r.path: r.pca for r in api.project(model, features.filter("reason is null")).collect()}
    for path, pca in projected.items():
        np.testing.assert_allclose(pca, job[path]["pca"], atol=1e-6)

    # A variance target picks k from the spectrum, as the job does.
    chosen = api.fit_pca(features, variance=0.5)
    k = chosen.stages[-1].getK()
    assert np.cumsum(chosen.stages[-1].explainedVariance.toArray())[-1] >= 0.5
    assert k == 1 or np.cumsum(metrics["pca"]["spectrum"][: k - 1])[-1] < 0.5

    # The committed table read back over Connect is the job's table.
    table = api.read_table(remote, str(classic))
    assert {r.path for r in table.select("path").collect()} == set(job)
    features.unpersist()


def test_fruits_run_remote_commits_the_table_of_the_classic_run(connect_url, small_sample, classic, tmp_path):
    output = tmp_path / "out"
    done = fruits_run(small_sample, output, "--remote", connect_url)
    assert re.search(r"\d+/\d+ images \(\d+%\)", done.stderr), f"no progress line over Connect:\n{done.stderr[-3000:]}"
    job, remote_run = by_path(tablekit.rows(classic)), by_path(tablekit.rows(output))
    assert set(remote_run) == set(job)
    for path, row in remote_run.items():
        np.testing.assert_allclose(row["features"], job[path]["features"], atol=1e-5)
        np.testing.assert_allclose(row["pca"], job[path]["pca"], atol=1e-6)
    metrics = tablekit.metrics(output)
    assert metrics["settings"]["remote"] == connect_url
    assert metrics["model_builds"] >= 1 and metrics["model_calls"] >= 1
    assert {r["path"] for r in tablekit.rows(output, "rejected").to_pylist()} == \
           {r["path"] for r in tablekit.rows(classic, "rejected").to_pylist()}
    assert (output / "runs" / metrics["run_id"] / "model" / "metadata").is_dir()


def test_the_api_refuses_what_it_cannot_use_with_the_reason(remote):
    import fruits.api as api

    frame = remote.createDataFrame([("a",)], "name string")
    with pytest.raises(ConfigError, match="needs a 'path' or a 'content'"):
        api.featurize(frame, **MODEL)
    with pytest.raises(ConfigError, match="unknown model"):
        api.featurize(frame.withColumnRenamed("name", "path"), model="vgg", weights="random")
    numbers = remote.createDataFrame([([1.0, 2.0],), ([2.0, 0.5],)], "features array<float>")
    with pytest.raises(ConfigError, match="k or variance, not both"):
        api.fit_pca(numbers, k=1, variance=0.5)
    with pytest.raises(ConfigError, match="k must be between 1 and 2"):
        api.fit_pca(numbers, k=3)
