"""Two writers on one local output: the second, started 8 s after the first, is refused naming the
holder (or waits its turn with --lock-wait); the tables' current snapshot only ever names a complete
run and never moves back; --keep-runs 1 deletes nothing the job did not write."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import tablekit

pytestmark = pytest.mark.spark

FRUITS = str(Path(sys.executable).parent / "fruits")


def start(sample: Path, output: Path, *extra: str) -> subprocess.Popen:
    args = [FRUITS, "run", "--input", str(sample), "--output", str(output), "--weights", "random", "--pca-k", "2",
            "--limit", "24", "--files-per-partition", "8", "--master", "local[2]", "--keep-runs", "1", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> str:
    log, _ = process.communicate(timeout=900)
    return log


def current(output: Path) -> str:
    return tablekit.current_run_id(output)


def is_complete(output: Path, run_id: str) -> bool:
    """Its folder holds what a run writes, and both tables hold its rows."""
    run = output / "runs" / run_id
    rows = sum(tablekit.rows(output, name, ["path"], run_id).num_rows for name in ("features", "rejected"))
    return rows == 24 and all((run / name).exists() for name in ("model", "metrics.json", "pca_2d.png"))


def test_second_writer_is_refused_then_waits_its_turn_and_nothing_foreign_is_deleted(small_sample, tmp_path):
    output = tmp_path / "out"
    holiday = output / "runs" / "2019-07-14_holiday"
    holiday.mkdir(parents=True)
    (holiday / "beach.jpg").write_bytes(b"not the job's")
    lookalike = output / "runs" / "20190714T000000Z-abcdef"  # a run-id name without the job's marker
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine")

    first = start(small_sample, output)
    time.sleep(8)
    deadline = time.monotonic() + 300  # a slow machine may still be starting Spark after 8 s
    while not (output / "_LOCK").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (output / "_LOCK").exists(), "the first run never took the lock:\n" + (finish(first) if first.poll() is not None else "")
    refused = start(small_sample, output)
    refused_log = finish(refused)
    assert refused.returncode == 2, refused_log[-3000:]
    assert "is locked by another run" in refused_log and "wait for it to finish" in refused_log, refused_log[-3000:]

    waiting = start(small_sample, output, "--lock-wait", "900")
    pointers = []
    while waiting.poll() is None or first.poll() is None:
        run_id = current(output)
        if run_id is not None and (not pointers or pointers[-1] != run_id):
            pointers.append(run_id)
            assert is_complete(output, run_id), f"the current snapshot names an incomplete run {run_id}"
        time.sleep(0.2)
    first_log, waiting_log = finish(first), finish(waiting)
    assert first.returncode == 0, first_log[-3000:]
    assert waiting.returncode == 0, waiting_log[-3000:]
    assert "waiting for the lock" in waiting_log, waiting_log[-3000:]
    pointers.append(current(output))
    assert pointers == sorted(pointers) and len(set(pointers)) == 2, f"the current run moved back or skipped: {pointers}"

    assert (holiday / "beach.jpg").read_bytes() == b"not the job's", "cleanup touched a folder the job did not write"
    assert (lookalike / "notes.txt").read_text() == "mine"
    ours = sorted(p.name for p in (output / "runs").iterdir() if (p / "_FRUITS_RUN").exists())
    assert ours == [current(output)], f"--keep-runs 1 left {ours}"
    assert [s.summary.get(tablekit.RUN_ID) for s in tablekit.table(output).snapshots()] == [current(output)]
    assert not (output / "_LOCK").exists(), "the lock was not released"
