"""A run past its `--deadline` fails with one clear line and exit code 124, writes that line where
Kubernetes reads a container's termination message, and leaves the tables' current snapshot as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tablekit
from fruits.cli.deadline import EXIT_DEADLINE

pytestmark = pytest.mark.spark

FRUITS = str(Path(sys.executable).parent / "fruits")


def fruits_run(sample: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [FRUITS, "run", "--input", str(sample), "--output", str(output), "--model", "efficientnet-lite0",
            "--weights", "random", "--pca-k", "3", "--limit", "30", "--files-per-partition", "8", "--master", "local[2]", *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def test_a_run_past_its_deadline_fails_clearly_and_commits_nothing(small_sample, tmp_path):
    output = tmp_path / "out"
    first = fruits_run(small_sample, output)
    assert first.returncode == 0, first.stderr[-3000:]
    committed = tablekit.current_run_id(output)
    assert committed

    termination_log = tmp_path / "termination-log"
    termination_log.touch()  # Kubernetes provides the file; the job writes it only where it exists
    late = fruits_run(small_sample, output, "--deadline", "2", "--termination-log", str(termination_log))

    assert late.returncode == EXIT_DEADLINE, late.stderr[-3000:]
    line = "run deadline of 2 s reached (--deadline)"
    assert f"fruits: run failed: {line}" in late.stderr, late.stderr[-3000:]
    assert termination_log.read_text().startswith(line)
    assert tablekit.current_run_id(output) == committed
