"""Readable progress for long stages: per-stage timings, and images done / rate while featurizing."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger("fruits.progress")


class StageTimer:
    """Wall seconds per named stage, in the order they ran (reported in metrics.json)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        log.info("%s ...", stage)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed
            log.info("%s done in %.1f s", stage, elapsed)


@contextmanager
def report_progress(done: Callable[[], int], total: int, what: str = "images", every: float = 10.0) -> Iterator[None]:
    """Log `done()/total` with the rate every `every` seconds until the block ends.

    `done` is typically a Spark accumulator's value, which grows as tasks finish.
    """
    stop = threading.Event()
    start = time.perf_counter()

    def loop() -> None:
        while not stop.wait(every):
            count = done()
            elapsed = time.perf_counter() - start
            rate = count / elapsed if elapsed > 0 else 0.0
            eta = (total - count) / rate if rate > 0 else float("nan")
            log.info("%d/%d %s (%.0f%%), %.1f %s/s, about %.0f s left",
                     count, total, what, 100.0 * count / max(total, 1), rate, what, eta)

    thread = threading.Thread(target=loop, name="fruits-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)
