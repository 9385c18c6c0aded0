"""Readable progress for long stages: per-stage timings, and images done / rate while featurizing."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger("fruits.pipeline.progress")


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
    """Log `done()/total` with the rate every `every` seconds until the block ends, and once more
    when it ends well (the count the work reached).

    `done` typically counts the finished tasks' images (fruits.spark.portable.TaskProgress).
    """
    stop = threading.Event()
    start = time.perf_counter()

    def loop() -> None:
        while not stop.wait(every):
            log.info("%s", progress_line(done(), total, time.perf_counter() - start, what))

    thread = threading.Thread(target=loop, name="fruits-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)
    log.info("%s", progress_line(done(), total, time.perf_counter() - start, what))


def progress_line(count: int, total: int, elapsed: float, what: str = "images") -> str:
    """One progress line; the time left only once there is a rate to estimate it from.

    >>> progress_line(0, 40, 10.0)
    '0/40 images (0%), none finished yet'
    >>> progress_line(10, 40, 5.0)
    '10/40 images (25%), 2.0 images/s, about 15 s left'
    >>> progress_line(500, 9000, 50.0)
    '500/9000 images (6%), 10.0 images/s, about 14 min left'
    """
    head = f"{count}/{total} {what} ({100.0 * count / max(total, 1):.0f}%)"
    if count <= 0 or elapsed <= 0:
        return f"{head}, none finished yet"
    rate = count / elapsed
    line = f"{head}, {rate:.1f} {what}/s"
    left = (total - count) / rate
    return f"{line}, about {format_seconds(left)} left" if left > 0 else line


def format_seconds(seconds: float) -> str:
    """Seconds as a person reads a countdown: '45 s' up to 90 s, then whole minutes.

    >>> format_seconds(44.6), format_seconds(600)
    ('45 s', '10 min')
    """
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
