"""Tier 3: the job reads and writes s3a:// on a real MinIO through the real S3A connector."""

from __future__ import annotations

import io
import json
import time
from itertools import pairwise

import pyarrow.parquet as pq
import pytest

from helpers import free_port
from s3kit import BUCKET, QUICK_MODEL, describe, run_fruits

pytestmark = pytest.mark.s3


def read_parquet(client, prefix: str):
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"] if o["Key"].endswith(".parquet")]
    assert keys, f"no parquet files under {prefix}"
    tables = [pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=k)["Body"].read())) for k in keys]
    return [row for table in tables for row in table.to_pylist()]


@pytest.fixture(scope="module")
def s3_run(minio, s3_sample):
    result = run_fruits("run", "--input", s3_sample, "--output", f"s3a://{BUCKET}/features-out", "--weights", "random",
                        "--pca-k", "4", "--batch-size", "16", "--files-per-partition", "16", *QUICK_MODEL, endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    client = minio.client()
    run_id = client.get_object(Bucket=BUCKET, Key="features-out/_CURRENT")["Body"].read().decode().strip()
    return client, run_id, result


def test_run_on_s3_writes_every_artifact(s3_run):
    client, run_id, _ = s3_run
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=f"features-out/runs/{run_id}/")["Contents"]}
    root = f"features-out/runs/{run_id}/"
    assert f"{root}metrics.json" in keys and f"{root}pca_2d.png" in keys
    for folder in ("features/", "rejected/", "model/"):
        assert any(k.startswith(root + folder) for k in keys), f"nothing under {root}{folder}"


def test_rows_on_s3_match_the_input(s3_run, small_sample):
    client, run_id, _ = s3_run
    metrics = json.loads(client.get_object(Bucket=BUCKET, Key=f"features-out/runs/{run_id}/metrics.json")["Body"].read())
    features = read_parquet(client, f"features-out/runs/{run_id}/features/")
    rejected = read_parquet(client, f"features-out/runs/{run_id}/rejected/")
    listed = sum(1 for p in small_sample.rglob("*") if p.is_file())
    assert metrics["counts"]["listed"] == listed == len(features) + len(rejected)
    assert {len(r["features"]) for r in features} == {metrics["feature_dim"]} == {1280}
    assert {len(r["pca"]) for r in features} == {4}
    assert all(r["path"].startswith(f"s3a://{BUCKET}/fruits/") for r in features)
    assert {"Pêche", "Apple Red 2"} <= {r["label"] for r in features}
    ratios = metrics["pca"]["explained_variance"]
    assert all(a >= b for a, b in pairwise(ratios)) and sum(ratios) <= 1 + 1e-9


def test_report_reads_the_s3_output(minio, s3_run):
    _, run_id, _ = s3_run
    result = run_fruits("report", f"s3a://{BUCKET}/features-out", endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    assert run_id in result.stdout


def test_wrong_endpoint_fails_fast_with_a_clear_message(small_sample, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_fruits("run", "--input", f"s3a://{BUCKET}/fruits", "--output", str(tmp_path / "o"), "--weights", "random",
                        endpoint=closed, timeout=300)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, describe(result)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fruits: run failed:") and "S3 endpoint" in last, describe(result)
    assert elapsed < 240, f"took {elapsed:.0f} s to give up"


def test_bad_credentials_fail_with_a_clear_message(minio, s3_sample, tmp_path):
    result = run_fruits("run", "--input", s3_sample, "--output", str(tmp_path / "o"), "--weights", "random",
                        endpoint=minio.endpoint, secret="wrong-secret", timeout=300)
    assert result.returncode == 1, describe(result)
    last = result.stderr.strip().splitlines()[-1]
    assert "secret key" in last or "403" in last or "access key" in last, describe(result)


def test_incremental_run_on_s3_reuses_every_unchanged_row(minio, s3_run):
    """With --reuse-model nothing changes in the kept rows: the table's files are copied inside S3."""
    client, run_id, _ = s3_run
    result = run_fruits("run", "--input", f"s3a://{BUCKET}/fruits", "--output", f"s3a://{BUCKET}/features-out",
                        "--weights", "random", "--pca-k", "4", "--incremental", "--reuse-model", *QUICK_MODEL, endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    new_id = client.get_object(Bucket=BUCKET, Key="features-out/_CURRENT")["Body"].read().decode().strip()
    assert new_id != run_id
    metrics = json.loads(client.get_object(Bucket=BUCKET, Key=f"features-out/runs/{new_id}/metrics.json")["Body"].read())
    assert metrics["model_calls"] == 0 and metrics["incremental"]["new"] == 0
    assert metrics["incremental"]["reused"] == metrics["counts"]["listed"]
    assert len(read_parquet(client, f"features-out/runs/{new_id}/features/")) == metrics["counts"]["accepted"]

    def table_files(run: str) -> dict:
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"features-out/runs/{run}/features/")["Contents"]
        return {o["Key"].rsplit("/", 1)[1]: o["ETag"] for o in listed if o["Key"].endswith(".parquet")}

    before, after = table_files(run_id), table_files(new_id)
    assert metrics["incremental"]["carried_files"] == len(before) >= 1
    assert all(after.get(name) == etag for name, etag in before.items()), "every previous file is in the new run as it was"
