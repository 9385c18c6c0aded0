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


def test_past_the_deadline_the_message_goes_to_the_termination_log(tmp_path):
    log = tmp_path / "termination-log"
    log.touch()
    with Deadline(0.2, log) as deadline:
        assert deadline.expired.wait(5)
        time.sleep(0.1)
    assert log.read_text() == deadline.message + "\n"
    assert deadline.message.startswith("run deadline of 0.2 s reached")


def test_no_termination_log_file_is_made(tmp_path):
    """Outside Kubernetes the file does not exist, and the job makes none."""
    missing = tmp_path / "termination-log"
    with Deadline(0.1, missing) as deadline:
        assert deadline.expired.wait(5)
        time.sleep(0.1)
    assert not missing.exists()


def test_a_run_that_does_not_stop_is_ended_with_the_deadline_code(tmp_path):
    code = ("import time\nfrom fruits.cli.deadline import Deadline\n"
            "with Deadline(0.2, None, grace_seconds=1):\n    time.sleep(60)\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == EXIT_DEADLINE, proc.stderr
    assert "run deadline of 0.2 s reached" in proc.stderr and time.monotonic() - started < 30
