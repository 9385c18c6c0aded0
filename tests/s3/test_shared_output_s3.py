"""A shared output on MinIO: the lock is a conditional PUT through S3A, a live holder is named in
the refusal and nothing is written, an expired holder is taken over, cleanup with --keep-runs 1
deletes only runs this tool wrote, of two runs started 8 s apart the second is refused while the
current run only moves forward, and of two commits on top of one snapshot the second is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fruits.inputs.entry_rules import HIDDEN_KEY_REASON
from s3kit import ACCESS_KEY, BUCKET, QUICK_MODEL, SECRET_KEY, catalog_of, current_run, describe, run_fruits, s3_properties

pytestmark = pytest.mark.s3

RUN_ARGS = ("--weights", "random", "--pca-k", "2", "--batch-size", "16", "--files-per-partition", "16", "--limit", "24")


def put_lock(client, output: str, expires_in: float) -> None:
    now = time.time()
    body = {"owner": "other-host:4242", "run_id": "20260101T000000Z-0ther0", "acquired": now - 5, "expires": now + expires_in}
    client.put_object(Bucket=BUCKET, Key=f"{output}/_LOCK", Body=json.dumps(body).encode())


def keys(client, prefix: str) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


def test_live_lock_refuses_the_run_naming_the_holder_and_writes_nothing(minio, s3_sample):
    client, output = minio.client(), "shared-live"
    put_lock(client, output, expires_in=3600)
    result = run_fruits("run", "--input", s3_sample, "--output", f"s3a://{BUCKET}/{output}", *RUN_ARGS, *QUICK_MODEL, endpoint=minio.endpoint)
    assert result.returncode == 2, describe(result)
    assert "locked by another run (other-host:4242, run 20260101T000000Z-0ther0" in result.stderr, describe(result)
    assert keys(client, f"{output}/") == {f"{output}/_LOCK"}, "a refused run wrote into the output"


def test_expired_lock_is_taken_over_and_cleanup_keeps_what_is_not_ours(minio, s3_sample):
    client, output = minio.client(), "shared-expired"
    put_lock(client, output, expires_in=-1)
    foreign = f"{output}/runs/2019-07-14_holiday/photo.txt"
    client.put_object(Bucket=BUCKET, Key=foreign, Body=b"not the job's")
    lookalike = f"{output}/runs/20190714T000000Z-abcdef/notes.txt"  # a run-id name, but no marker: not ours
    client.put_object(Bucket=BUCKET, Key=lookalike, Body=b"not the job's either")
    runs = []
    for _ in range(2):
        result = run_fruits("run", "--input", s3_sample, "--output", f"s3a://{BUCKET}/{output}", "--keep-runs", "1", *RUN_ARGS, *QUICK_MODEL,
                            endpoint=minio.endpoint)
        assert result.returncode == 0, describe(result)
        assert "taking over the expired lock" in result.stderr or runs, describe(result)
        runs.append(current_run(minio.endpoint, f"s3a://{BUCKET}/{output}"))
    assert runs[0] < runs[1], runs
    left = keys(client, f"{output}/")
    assert foreign in left and lookalike in left, "cleanup deleted files the job did not write"
    assert not any(k.startswith(f"{output}/runs/{runs[0]}/") for k in left), "--keep-runs 1 kept the older run"
    assert any(k.startswith(f"{output}/runs/{runs[1]}/") for k in left)
    assert f"{output}/_LOCK" not in left, "the lock was not released"


def test_two_runs_started_8_s_apart_on_s3_one_refused_and_current_never_moves_back(minio, s3_sample):
    client, output = minio.client(), "shared-two"
    catalog = catalog_of(minio.endpoint, f"s3a://{BUCKET}/{output}")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "FRUITS_S3_ENDPOINT": minio.endpoint, "FRUITS_S3_PATH_STYLE": "true",
           "FRUITS_CATALOG_URI": catalog["uri"], "FRUITS_CATALOG_NAMESPACE": catalog["namespace"]}
    fruits = str(Path(sys.executable).parent / "fruits")

    # ResNet50, the default: the first run must still hold the lock when the second one asks for it.
    def start(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([fruits, "run", "--input", s3_sample, "--output", f"s3a://{BUCKET}/{output}", "--keep-runs", "1",
                                 *RUN_ARGS, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

    first = start()
    time.sleep(8)
    deadline = time.monotonic() + 300  # a slow machine may still be starting Spark after 8 s
    while f"{output}/_LOCK" not in keys(client, f"{output}/") and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    second = start()
    second_log, _ = second.communicate(timeout=900)
    assert second.returncode == 2 and "is locked by another run" in second_log, second_log[-3000:]
    pointers = []
    while first.poll() is None:
        run_id = current_run(minio.endpoint, f"s3a://{BUCKET}/{output}")
        if run_id is not None and (not pointers or pointers[-1] != run_id):
            pointers.append(run_id)
            assert f"{output}/runs/{run_id}/metrics.json" in keys(client, f"{output}/runs/{run_id}/"), "incomplete run named"
        time.sleep(0.2)
    first_log, _ = first.communicate(timeout=60)
    assert first.returncode == 0, first_log[-3000:]
    third = start()
    third_log, _ = third.communicate(timeout=900)
    assert third.returncode == 0, third_log[-3000:]
    pointers.append(current_run(minio.endpoint, f"s3a://{BUCKET}/{output}"))
    assert pointers == sorted(pointers) and len(set(pointers)) == 2, f"the current run moved back or skipped: {pointers}"


def test_of_two_commits_on_one_snapshot_on_s3_the_second_is_refused_and_the_table_stays_readable(minio, tmp_path):
    """The format's optimistic commit, on MinIO: two writers load the table at the same snapshot;
    the first commit wins, the second raises ConcurrentCommit and leaves the table as the first made it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyiceberg.io import load_file_io

    from fruits.config.catalog import CatalogSettings
    from fruits.config.job_config import S3Settings
    from fruits.table.iceberg import ConcurrentCommit, commit_run, open_catalog, snapshot_files, table_for

    output = f"s3a://{BUCKET}/two-commits"
    settings = CatalogSettings(uri=f"sqlite:///{tmp_path}/catalog.db")
    catalog = open_catalog(settings, output, S3Settings(endpoint=minio.endpoint, path_style=True))
    catalog.properties.update(s3_properties(minio.endpoint))
    io = load_file_io(catalog.properties, f"s3://{BUCKET}/two-commits")

    def data_file(name: str, paths: list[str]) -> str:
        uri = f"s3://{BUCKET}/two-commits/features/data/{name}/part-0.parquet"
        with io.new_output(uri).create(overwrite=True) as out:
            pq.write_table(pa.table({"path": paths, "label": ["Kiwi"] * len(paths)}), out)
        return uri

    first = data_file("r1", ["a", "b"])
    table = table_for(catalog, "fruits.features", pq.read_schema(io.new_input(first).open()), f"s3://{BUCKET}/two-commits/features")
    base = commit_run(table, "r1", [first]).snapshot_id
    mine, theirs = catalog.load_table("fruits.features"), catalog.load_table("fruits.features")
    commit_run(theirs, "r2", [data_file("r2", ["c"])], based_on=base)
    with pytest.raises(ConcurrentCommit, match="r3 was not committed"):
        commit_run(mine, "r3", [data_file("r3", ["d"])], based_on=base)
    table.refresh()
    assert table.current_snapshot().summary["fruits.run-id"] == "r2"
    assert snapshot_files(table, table.current_snapshot().snapshot_id) == [f"s3://{BUCKET}/two-commits/features/data/r2/part-0.parquet"]
    assert table.scan().to_arrow().column("path").to_pylist() == ["c"]


def test_hidden_keys_on_s3_are_rejected_rows_not_dropped(minio, small_sample):
    client, prefix = minio.client(), "hidden-in"
    images = sorted(p for p in small_sample.rglob("*.jpg") if p.stat().st_size)[:12]
    for path in images:
        client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(small_sample).as_posix()}")
    hidden = {f"{prefix}/_SUCCESS": b"", f"{prefix}/Training/.partial/x.jpg": images[0].read_bytes(),
              f"{prefix}/Training/Kiwi/.DS_Store": b"\0\1"}
    for key, body in hidden.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    output = "hidden-out"
    result = run_fruits("run", "--input", f"s3a://{BUCKET}/{prefix}", "--output", f"s3a://{BUCKET}/{output}", "--weights", "random",
                        "--pca-k", "2", "--batch-size", "16", *QUICK_MODEL, endpoint=minio.endpoint)
    assert result.returncode == 0, describe(result)
    run_id = current_run(minio.endpoint, f"s3a://{BUCKET}/{output}")
    metrics = json.loads(client.get_object(Bucket=BUCKET, Key=f"{output}/runs/{run_id}/metrics.json")["Body"].read())
    assert metrics["counts"]["listed"] == len(images) + len(hidden), metrics["counts"]
    assert metrics["counts"]["rejected_by_reason"].get(HIDDEN_KEY_REASON) == len(hidden), metrics["counts"]
