"""The job on a Spark standalone cluster (master + 2 workers from the pinned pyspark) that loses a worker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tablekit
from helpers import free_port

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
FRUITS = str(Path(sys.executable).parent / "fruits")
PROGRESS = re.compile(r"(\d+)/(\d+) images")


@pytest.fixture()
def cluster(tmp_path):
    env = {**os.environ, "STANDALONE_DIR": str(tmp_path / "cluster"), "MASTER_PORT": str(free_port()),
           "MASTER_UI_PORT": str(free_port()), "WORKERS": "2", "WORKER_CORES": "1", "WORKER_MEMORY": "3g",
           "PYTHON": sys.executable}
    script = str(REPO / "scripts" / "standalone.sh")
    up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield f"spark://127.0.0.1:{env['MASTER_PORT']}", tmp_path / "cluster"
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, timeout=120)


def test_job_survives_a_lost_worker_with_every_row_once(cluster, small_sample, tmp_path, spark):
    master, state = cluster
    output = tmp_path / "out"
    job = subprocess.Popen(
        [FRUITS, "run", "--master", master, "--input", str(small_sample), "--output", str(output),
         "--weights", "random", "--pca-k", "4", "--files-per-partition", "3", "--batch-size", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "FRUITS_PROGRESS_SECONDS": "1"},
    )
    lines: list[str] = []
    progress: list[tuple[int, int]] = []

    def read() -> None:
        for line in job.stdout:
            lines.append(line)
            match = PROGRESS.search(line)
            if match:
                progress.append((int(match.group(1)), int(match.group(2))))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while not any(0 < done < total for done, total in progress) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    done_at_kill = max((d for d, _ in progress), default=0)
    assert done_at_kill > 0, "no task finished before the deadline:\n" + "".join(lines[-40:])
    worker = int((state / "worker-1.pid").read_text())
    os.killpg(worker, signal.SIGKILL)  # the worker JVM and its executor

    job.wait(timeout=900)
    reader.join(timeout=10)
    log = "".join(lines)
    assert job.returncode == 0, log[-5000:]
    total = progress[-1][1]
    assert done_at_kill < total, "the worker was killed after the last task"
    assert re.search(r"Lost executor|ExecutorLost|executor \d+ lost|Removing executor", log, re.IGNORECASE), \
        "the driver never noticed the lost executor:\n" + log[-3000:]

    table = spark.read.parquet(*tablekit.files(output, "features"))
    rejected = spark.read.parquet(*tablekit.files(output, "rejected"))
    listed = sum(1 for p in small_sample.rglob("*") if p.is_file())
    assert table.count() + rejected.count() == listed
    assert table.select("path").distinct().count() == table.count(), "a re-executed task duplicated rows"
