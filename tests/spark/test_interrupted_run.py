"""A run (here an incremental one) killed while it writes leaves the previous output readable and current."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tablekit

pytestmark = pytest.mark.spark

FRUITS = str(Path(sys.executable).parent / "fruits")


def fruits_run(sample: Path, output: Path, *extra: str, env: dict | None = None):
    args = [FRUITS, "run", "--input", str(sample), "--output", str(output), "--model", "efficientnet-lite0",
            "--weights", "random", "--pca-k", "3", "--limit", "30", "--files-per-partition", "8", "--master", "local[2]", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def owned_files(output: Path, run_id: str) -> list:
    """Everything of a committed run: its folder, and its snapshots' data files."""
    data = [f for name in ("features", "rejected") for f in tablekit.local_files(output, name, run_id)]
    return sorted([*(output / "runs" / run_id).rglob("*"), *data])


def test_killed_run_keeps_the_previous_output_and_the_next_run_cleans_up(small_sample, tmp_path):
    output = tmp_path / "out"
    first = fruits_run(small_sample, output)
    log, _ = first.communicate(timeout=600)
    assert first.returncode == 0, log[-3000:]
    committed = tablekit.current_run_id(output)
    committed_files = owned_files(output, committed)
    assert all(f.stat().st_size > 0 for f in committed_files if f.suffix == ".parquet")

    second = fruits_run(small_sample, output, "--incremental")  # reuses every row, so it soon writes
    deadline = time.monotonic() + 600
    new_data = None
    while new_data is None and time.monotonic() < deadline and second.poll() is None:
        started = [p for p in (output / "features" / "data").iterdir() if p.name != committed]
        new_data = started[0] if started else None
        time.sleep(0.05)
    assert new_data is not None, "the second run never started writing its table files"
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=60)
    new_run = output / "runs" / new_data.name

    assert tablekit.current_run_id(output) == committed
    assert owned_files(output, committed) == committed_files
    assert tablekit.rows(output, "features").num_rows + tablekit.rows(output, "rejected").num_rows == 30
    report = subprocess.run([FRUITS, "report", str(output), "--png", str(tmp_path / "p.png")],
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0 and committed in report.stdout, report.stderr[-3000:]

    third = fruits_run(small_sample, output, env={"FRUITS_SWEEP_MIN_AGE_HOURS": "0"})
    log, _ = third.communicate(timeout=600)
    assert third.returncode == 0, log[-3000:]
    assert not new_run.exists(), "the killed run's folder should be removed by the next successful run"
    assert not new_data.exists(), "the killed run's data files should be swept by the next successful run"
    assert tablekit.current_run_id(output) not in (None, committed)
