"""fruits.api and `fruits run --remote` on a real Spark Connect server, against the classic job.

The classic run (`fruits run --master local[2]`) is the reference: over Connect the library gives
the same rows and the same features, and `fruits run --remote` commits the same table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tablekit

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


def child_env() -> dict:
    """This environment without pyspark's own switch to Connect (a client process sets it)."""
    env = {key: value for key, value in os.environ.items() if key not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    env.update(PYSPARK_PYTHON=sys.executable, FRUITS_PROGRESS_SECONDS="1", FRUITS_DRIVER_MEMORY="1g")
    return env


def test_the_api_over_connect_gives_the_rows_and_features_of_the_job(connect_url, small_sample, classic, tmp_path):
    result = tmp_path / "result.json"
    client = Path(__file__).with_name("api_client.py")
    done = subprocess.run([sys.executable, str(client), connect_url, str(small_sample), str(classic), str(result)],
                          capture_output=True, text=True, env=child_env(), timeout=900)
    assert done.returncode == 0, f"the Connect client failed:\n{done.stderr[-4000:]}"
    got = json.loads(result.read_text())
    assert got["session"].startswith("pyspark.sql.connect")
    assert got["columns"] == ["path", "label", "split", "size", "modified", "reason"]

    job = by_path(tablekit.rows(classic))
    job_rejected = {row["path"]: row["reason"] for row in tablekit.rows(classic, "rejected").to_pylist()}
    rows = got["rows"]
    assert len(rows) == len(job) + len(job_rejected)  # every entry once, accepted or rejected
    accepted = {r["path"]: r for r in rows if r["reason"] is None}
    assert set(accepted) == set(job)
    for path, row in accepted.items():
        assert (row["label"], row["split"], row["size"], row["modified"]) == (
            job[path]["label"], job[path]["split"], job[path]["size"], job[path]["modified"])
        np.testing.assert_allclose(row["features"], job[path]["features"], atol=1e-5)
    assert {r["path"]: r["reason"] for r in rows if r["reason"] is not None} == job_rejected
    assert all(r["features"] is None for r in rows if r["reason"] is not None)

    # The same PCA as the job's, signs included; the model is an ordinary Spark ML one on the server.
    metrics = tablekit.metrics(classic)
    np.testing.assert_allclose(got["explained_variance"], metrics["pca"]["explained_variance"], rtol=1e-6)
    assert set(got["pca"]) == set(job)
    for path, pca in got["pca"].items():
        np.testing.assert_allclose(pca, job[path]["pca"], atol=1e-6)
    # A variance target picks k from the spectrum, as the job does.
    k = got["variance_k"]
    assert np.cumsum(got["variance_ratios"])[-1] >= 0.5
    assert k == 1 or np.cumsum(metrics["pca"]["spectrum"][: k - 1])[-1] < 0.5
    # The committed table read back over Connect is the job's table.
    assert set(got["table_paths"]) == set(job)

    refusals = got["refusals"]
    assert "needs a 'path' or a 'content'" in refusals["no path"]
    assert "unknown model" in refusals["model"]
    assert "k or variance, not both" in refusals["k and variance"]
    assert "k must be between 1 and 2" in refusals["k too large"]


def test_fruits_run_remote_commits_the_table_of_the_classic_run(connect_url, small_sample, classic, tmp_path):
    output = tmp_path / "out"
    done = fruits_run(small_sample, output, "--remote", connect_url)
    job, remote_run = by_path(tablekit.rows(classic)), by_path(tablekit.rows(output))
    # Progress over Connect comes from the server's reports of finished tasks: the last line counts them all.
    images = tablekit.metrics(output)["counts"]["images"]
    lines = re.findall(r"(\d+)/(\d+) images \(\d+%\)", done.stderr)
    assert lines and lines[-1] == (str(images), str(images)), f"no final progress line over Connect:\n{done.stderr[-3000:]}"
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
