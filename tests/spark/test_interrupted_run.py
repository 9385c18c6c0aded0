"""A run (here an incremental one) killed while it writes leaves the previous output readable and current."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

FRUITS = str(Path(sys.executable).parent / "fruits")


def fruits_run(sample: Path, output: Path, *extra: str):
    args = [FRUITS, "run", "--input", str(sample), "--output", str(output), "--model", "efficientnet-lite0",
            "--weights", "random", "--pca-k", "3", "--limit", "30", "--files-per-partition", "8", "--master", "local[2]", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_killed_run_keeps_the_previous_output_and_the_next_run_cleans_up(small_sample, tmp_path):
    output = tmp_path / "out"
    first = fruits_run(small_sample, output)
    log, _ = first.communicate(timeout=600)
    assert first.returncode == 0, log[-3000:]
    committed = (output / "_CURRENT").read_text().strip()
    committed_files = sorted(p.relative_to(output) for p in (output / "runs" / committed).rglob("*"))

    second = fruits_run(small_sample, output, "--incremental")  # reuses every row, so it soon writes
    deadline = time.monotonic() + 600
    new_run = None
    while new_run is None and time.monotonic() < deadline and second.poll() is None:
        started = [p for p in (output / "runs").iterdir() if p.name != committed and (p / "features").exists()]
        new_run = started[0] if started else None
        time.sleep(0.05)
    assert new_run is not None, "the second run never started writing"
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=60)

    assert (output / "_CURRENT").read_text().strip() == committed
    assert sorted(p.relative_to(output) for p in (output / "runs" / committed).rglob("*")) == committed_files
    report = subprocess.run([FRUITS, "report", str(output), "--png", str(tmp_path / "p.png")],
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0 and committed in report.stdout, report.stderr[-3000:]

    third = fruits_run(small_sample, output)
    log, _ = third.communicate(timeout=600)
    assert third.returncode == 0, log[-3000:]
    assert not new_run.exists(), "the killed run's partial files should be removed by the next successful run"
    assert (output / "_CURRENT").read_text().strip() != committed
