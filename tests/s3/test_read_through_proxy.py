"""S3 at cloud latency, with dropped connections: a run through Toxiproxy reads every image exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import tablekit
from s3kit import ACCESS_KEY, BUCKET, QUICK_MODEL, SECRET_KEY

pytestmark = pytest.mark.s3


def start_fruits(*args: str, endpoint: str) -> subprocess.Popen:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "FRUITS_S3_ENDPOINT": endpoint, "FRUITS_S3_PATH_STYLE": "true", "FRUITS_SPARK_PROGRESS": "false"}
    fruits = Path(sys.executable).parent / "fruits"
    return subprocess.Popen([str(fruits), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_run_with_latency_and_reset_connections_reads_every_image_once(minio, minio_proxy, s3_sample, tmp_path):
    minio_proxy.latency(20, jitter=5)
    output = tmp_path / "out"
    run = start_fruits("run", "--input", s3_sample, "--output", str(output), "--weights", "random", "--pca-k", "3",
                       "--files-per-partition", "8", endpoint=minio_proxy.endpoint)
    lines: list[str] = []
    resets = []

    def follow() -> None:
        for line in run.stdout:
            lines.append(line)
            # Connections are reset only while the workers read: the listing's second count goes
            # through Hadoop's S3A, whose own retries are not this test's subject.
            if " featurize ..." in line and not resets:
                resets.append(minio_proxy.reset_peer(0.3))

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert run.wait(timeout=900) == 0, "".join(lines)[-5000:]
    reader.join(timeout=10)
    assert resets, "the run never reached featurize"

    run_id = tablekit.current_run_id(output)
    metrics = json.loads((output / "runs" / run_id / "metrics.json").read_text())
    counts = metrics["counts"]
    objects = [o["Key"] for o in minio.client().list_objects_v2(Bucket=BUCKET, Prefix="fruits/")["Contents"]]
    assert counts["listed"] == len(objects) and counts["consistent"]
    table = tablekit.rows(output, "features", ["path"]).column("path").to_pylist()
    rejected = tablekit.rows(output, "rejected", ["path", "reason"]).to_pylist()
    assert len(table) == len(set(table)) == counts["accepted"], "every image once"
    assert sorted(table + [r["path"] for r in rejected]) == sorted(f"s3://{BUCKET}/{key}" for key in objects)
    assert not [r for r in rejected if r["reason"].startswith("cannot read object")], rejected
    assert metrics["s3_retries"]["read"] > 0, "connections were reset, so some reads were retried"


def test_pack_and_run_over_the_pack_on_s3_at_cloud_latency(minio, minio_proxy, s3_sample, tmp_path):
    """`fruits pack` from S3 into S3, then a run over the pack, both at +20 ms a response: every image once.
    (The pack's reads are the run's reader, whose retries the test above shows.)"""
    minio_proxy.latency(20, jitter=5)
    pack_uri = f"s3a://{BUCKET}/packs/{tmp_path.name}"
    packed = start_fruits("pack", "--input", s3_sample, "--output", pack_uri, "--files-per-partition", "8",
                          endpoint=minio_proxy.endpoint)
    log = packed.communicate(timeout=900)[0]
    assert packed.returncode == 0, log[-5000:]
    objects = [o["Key"] for o in minio.client().list_objects_v2(Bucket=BUCKET, Prefix="fruits/")["Contents"]]
    assert f"the pack holds {len(objects):,} files" in log, log[-3000:]
    output = tmp_path / "out"
    run = start_fruits("run", "--input", pack_uri, "--output", str(output), "--weights", "random", "--pca-k", "3",
                       "--files-per-partition", "8", *QUICK_MODEL, endpoint=minio_proxy.endpoint)
    log = run.communicate(timeout=900)[0]
    assert run.returncode == 0, log[-5000:]
    counts = tablekit.metrics(output)["counts"]
    table = tablekit.rows(output, "features", ["path"]).column("path").to_pylist()
    rejected = tablekit.rows(output, "rejected", ["path"]).column("path").to_pylist()
    assert counts["listed"] == len(objects) and counts["consistent"]
    assert len(table) == len(set(table)) == counts["accepted"], "every image once"
    assert sorted(table + rejected) == sorted(f"s3://{BUCKET}/{key}" for key in objects)
