"""A run's deadline, enforced by the driver itself (`fruits run --deadline SECONDS`).

Why here: spark-operator 2.5.2 has no deadline for a SparkApplication, and a run whose executors
stay Pending (no capacity) would otherwise wait for ever, with every later scheduled run skipped
behind it. Past the deadline the driver cancels its Spark jobs (again each second, so a job that
starts later is cancelled too), logs one line, writes it to Kubernetes' termination message file
(the driver pod's `state.terminated.message`) and exits with EXIT_DEADLINE, which the
SparkApplication's status and failure event carry. A run that does not stop within `grace_seconds`
is ended by `os._exit`. Either way nothing of it is committed: the tables keep their current
snapshot (the run's files are invisible until its catalog commit).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Optional

log = logging.getLogger("fruits")

# As timeout(1): the run was stopped because its time was up.
EXIT_DEADLINE = 124
TERMINATION_LOG = Path("/dev/termination-log")


class DeadlineExceeded(RuntimeError):
    """The run's deadline passed; the message is the one line the driver logs."""


class Deadline:
    """A context manager: `expired` is set once `seconds` have passed (0: never)."""

    def __init__(self, seconds: float, termination_log: Optional[Path] = TERMINATION_LOG, grace_seconds: float = 60.0):
        self.seconds = seconds
        self.termination_log = termination_log
        self.grace_seconds = grace_seconds
        self.expired = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fruits-deadline", daemon=True)

    @property
    def message(self) -> str:
        return (f"run deadline of {self.seconds:g} s reached (--deadline): the run was cancelled and nothing of it "
                f"was committed; the tables keep their current snapshot")

    def finished_late(self) -> None:
        """The run ended well after its deadline had passed (a last step with no Spark job to cancel,
        such as the catalog commit): say so where the message said nothing was committed."""
        message = (f"run deadline of {self.seconds:g} s passed, but the run had finished and committed before it "
                   "could be stopped")
        log.warning(message)
        write_termination_message(self.termination_log, message)

    def __enter__(self) -> "Deadline":
        if self.seconds > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.expired.set()
        log.error(self.message)
        write_termination_message(self.termination_log, self.message)
        for _ in range(max(1, int(self.grace_seconds))):
            cancel_spark_jobs()
            if self._done.wait(1.0):
                return
        print(f"fruits: run failed: {self.message} (stopped after {self.grace_seconds:g} s more)", file=sys.stderr, flush=True)
        os._exit(EXIT_DEADLINE)


def write_termination_message(path: Optional[Path], message: str) -> None:
    """The message Kubernetes shows as the container's termination message, where it provides the file."""
    if path is None or not path.exists():
        return
    try:
        path.write_text(message + "\n")
    except OSError as exc:
        log.warning("cannot write the termination message to %s: %s", path, exc)


def cancel_spark_jobs() -> None:
    """Cancel every job of this process's SparkContext, if one runs (classic Spark)."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        try:
            context.cancelAllJobs()
        except Exception as exc:  # noqa: BLE001 - a context stopping meanwhile: nothing left to cancel
            log.debug("cancelling the Spark jobs failed: %s", exc)
