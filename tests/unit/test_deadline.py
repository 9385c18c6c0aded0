"""fruits.cli.deadline without Spark: when it fires, what it writes, and the hard stop."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fruits.cli.deadline import EXIT_DEADLINE, Deadline


@pytest.mark.parametrize("seconds", [0, 5])
def test_no_deadline_or_a_run_in_time_leaves_no_message(tmp_path, seconds):
    """0 is no deadline; a run that ends before its deadline stops the watch."""
    log = tmp_path / "termination-log"
    log.touch()
    with Deadline(seconds, log) as deadline:
        time.sleep(0.2)
    time.sleep(0.1)
    assert not deadline.expired.is_set() and log.read_text() == ""


def fired(seconds: float, log) -> Deadline:
    """A deadline of `seconds` that fired within the block (its message written by then)."""
    with Deadline(seconds, log) as deadline:
        assert deadline.expired.wait(5)
        time.sleep(0.1)
    return deadline


def test_past_the_deadline_the_message_goes_to_the_termination_log(tmp_path):
    log = tmp_path / "termination-log"
    log.touch()
    deadline = fired(0.2, log)
    assert log.read_text() == deadline.message + "\n"
    assert deadline.message.startswith("run deadline of 0.2 s reached")


def test_no_termination_log_file_is_made(tmp_path):
    """Outside Kubernetes the file does not exist, and the job makes none."""
    missing = tmp_path / "termination-log"
    fired(0.1, missing)
    assert not missing.exists()


def test_a_run_that_does_not_stop_is_ended_with_the_deadline_code(tmp_path):
    code = ("import time\nfrom fruits.cli.deadline import Deadline\n"
            "with Deadline(0.2, None, grace_seconds=1):\n    time.sleep(60)\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == EXIT_DEADLINE, proc.stderr
    assert "run deadline of 0.2 s reached" in proc.stderr and time.monotonic() - started < 30


def test_a_run_that_ends_well_past_its_deadline_corrects_the_message(tmp_path):
    """A last step with no Spark job to cancel (the catalog commit) may finish after the deadline fired."""
    log = tmp_path / "termination-log"
    log.touch()
    fired(0.1, log).finished_late()
    assert log.read_text().startswith("run deadline of 0.1 s passed, but the run had finished and committed")
