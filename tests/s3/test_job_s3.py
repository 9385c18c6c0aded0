"""Tier 3: the job reads and writes s3a:// on a real MinIO through the real S3A connector."""

from __future__ import annotations

import json
import time
from itertools import pairwise

import pytest

import tablekit
from helpers import free_port
from s3kit import BUCKET, QUICK_MODEL, current_run, describe, run_fruits, table_rows

pytestmark = pytest.mark.s3

OUTPUT = f"s3a://{BUCKET}/features-out"


@pytest.fixture(scope="module")
def s3_run(minio, s3_sample):
    result = run_fruits("run", "--input", s3_sample, "--output", f"s3a://{BUCKET}/features-out", "--weights", "random",
                        "--pca-k", "4", "--batch-size", "16", "--files-per-partition", "16", *QUICK_MODEL, endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    client = minio.client()
    run_id = current_run(minio.endpoint, OUTPUT)
    return client, run_id, result


def test_run_on_s3_writes_every_artifact(s3_run):
    client, run_id, _ = s3_run
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="features-out/")["Contents"]}
    root = f"features-out/runs/{run_id}/"
    assert f"{root}metrics.json" in keys and f"{root}pca_2d.png" in keys and any(k.startswith(f"{root}model/") for k in keys)
    for table in ("features", "rejected"):
        assert any(k.startswith(f"features-out/{table}/data/{run_id}/") and k.endswith(".parquet") for k in keys), table
        assert f"features-out/{table}/metadata/version-hint.text" in keys


def test_rows_on_s3_match_the_input(minio, s3_run, small_sample):
    client, run_id, _ = s3_run
    metrics = json.loads(client.get_object(Bucket=BUCKET, Key=f"features-out/runs/{run_id}/metrics.json")["Body"].read())
    features = table_rows(minio.endpoint, OUTPUT).to_pylist()
    rejected = table_rows(minio.endpoint, OUTPUT, "rejected").to_pylist()
    listed = sum(1 for p in small_sample.rglob("*") if p.is_file())
    assert metrics["counts"]["listed"] == listed == len(features) + len(rejected)
    assert {len(r["features"]) for r in features} == {metrics["feature_dim"]} == {1280}
    assert {len(r["pca"]) for r in features} == {4}
    assert all(r["path"].startswith(f"s3://{BUCKET}/fruits/") for r in features), "a URI tools other than Hadoop open"
    assert {"Pêche", "Apple Red 2"} <= {r["label"] for r in features}
    ratios = metrics["pca"]["explained_variance"]
    assert all(a >= b for a, b in pairwise(ratios)) and sum(ratios) <= 1 + 1e-9


def test_report_reads_the_s3_output(minio, s3_run):
    _, run_id, _ = s3_run
    result = run_fruits("report", OUTPUT, "--json", endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    record = json.loads(result.stdout)
    assert record["run_id"] == run_id and record["format"] == "iceberg" and record["current"]
    assert record["tables"]["features"]["location"] == f"s3://{BUCKET}/features-out/features"
    assert record["rows"]["listed"] == record["rows"]["accepted"] + record["rows"]["rejected"] > 0


def test_duckdb_reads_the_s3_table_from_its_folder(minio, s3_run):
    """A reader with no catalog: DuckDB's iceberg extension, from the table's folder (version-hint.text)."""
    con = tablekit.duckdb_with("httpfs", "avro", "iceberg")
    host = minio.endpoint.removeprefix("http://")
    con.execute(f"CREATE SECRET (TYPE s3, KEY_ID 'fruits-test', SECRET 'fruits-test-secret', ENDPOINT '{host}', "
                "URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
    count = con.execute(f"SELECT count(*) FROM iceberg_scan('s3://{BUCKET}/features-out/features')").fetchone()[0]
    assert count == table_rows(minio.endpoint, OUTPUT, columns=["path"]).num_rows > 0


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
    """With --reuse-model nothing changes in the kept rows: the new snapshot keeps the table's files as they are."""
    client, run_id, _ = s3_run
    before = {f for f in table_rows(minio.endpoint, OUTPUT, columns=["path"]).column("path").to_pylist()}
    result = run_fruits("run", "--input", f"s3a://{BUCKET}/fruits", "--output", OUTPUT,
                        "--weights", "random", "--pca-k", "4", "--incremental", "--reuse-model", *QUICK_MODEL, endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    new_id = current_run(minio.endpoint, OUTPUT)
    assert new_id != run_id
    metrics = json.loads(client.get_object(Bucket=BUCKET, Key=f"features-out/runs/{new_id}/metrics.json")["Body"].read())
    assert metrics["model_calls"] == 0 and metrics["incremental"]["new"] == 0
    assert metrics["incremental"]["reused"] == metrics["counts"]["listed"]
    after = table_rows(minio.endpoint, OUTPUT, columns=["path"]).column("path").to_pylist()
    assert len(after) == metrics["counts"]["accepted"] and set(after) == before
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"features-out/features/data/{new_id}/")
    assert not [o for o in listed.get("Contents", []) if o["Key"].endswith(".parquet") and "part-" in o["Key"]
                and o["Size"] > 1000], "no kept row was written again"
    assert metrics["incremental"]["carried_files"] >= 1
