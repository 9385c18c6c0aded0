"""How the ceiling spreads the model over the cores: one process with N threads, or N processes
with one thread each (the images split between them), and which of the two is faster.

Why both: the job runs one single-threaded model per Spark worker, and on some machines N such
processes beat one process with N threads; a ceiling measured one way only can be beaten by the
job it bounds.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

LAYOUTS = ("best", "threads", "processes")


def layout_name(layout: str, cores: int) -> str:
    """The human name of a layout on `cores`.

    >>> layout_name("threads", 2), layout_name("processes", 2), layout_name("processes", 1)
    ('1 process x 2 threads', '2 processes x 1 thread', '1 process x 1 thread')
    """
    if layout not in LAYOUTS[1:]:
        raise ValueError(f"a layout is threads or processes, got {layout!r}")
    if layout == "threads" or cores == 1:
        return f"1 process x {cores} thread{'s' if cores > 1 else ''}"
    return f"{cores} processes x 1 thread"


def layouts_to_measure(layout: str, cores: int) -> tuple[str, ...]:
    """The layouts `--layout` asks for; on one core the two are the same, measured once.

    >>> layouts_to_measure("best", 2), layouts_to_measure("best", 1), layouts_to_measure("processes", 4)
    (('threads', 'processes'), ('threads',), ('processes',))
    """
    if layout not in LAYOUTS:
        raise ValueError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if cores < 1:
        raise ValueError(f"--threads must be at least 1, got {cores}")
    if layout == "best":
        return ("threads", "processes") if cores > 1 else ("threads",)
    return (layout,)


def fastest(rates: dict[str, float]) -> str:
    """The layout with the most images per second (the first measured on a tie).

    >>> fastest({"threads": 17.3, "processes": 17.5})
    'processes'
    """
    if not rates:
        raise ValueError("no layout was measured")
    return max(rates, key=lambda name: rates[name])


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """`count` images as `parts` contiguous [start, stop) shares that differ by at most one image.

    >>> split(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if count < parts:
        raise ValueError(f"{count} images cannot be split between {parts} processes; give at least one each")
    size, extra = divmod(count, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM, which starts afresh at exec, unlike ru_maxrss, which a
    spawned process inherits from the large process it was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line (the benches need Linux)")


@dataclass(frozen=True)
class Share:
    """What one process of the processes layout runs: the model file and its slice of the pixels."""

    runtime: str
    precision: str
    model: str
    model_path: Optional[Path]
    pixels: Path
    start: int
    stop: int
    batch_size: int


def _run_share(share: Share, barrier, results) -> None:
    """In a fresh process: load the model on one thread, warm it up, wait for the others, run the share."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fruits.models.preprocess import preprocessor
    from runtimes_engines import load

    model = load(share.runtime, share.precision, share.model, share.model_path, threads=1)
    preprocess = preprocessor(share.model)
    pixels = np.load(share.pixels, mmap_mode="r")[share.start : share.stop]
    model.predict_on_batch(preprocess(np.asarray(pixels[: share.batch_size])))
    barrier.wait(timeout=600)
    began = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on Linux
    for i in range(0, len(pixels), share.batch_size):
        model.predict_on_batch(preprocess(np.asarray(pixels[i : i + share.batch_size])))
    results.put((began, time.monotonic(), peak_rss_mb()))


def run_processes(shares: list[Share]) -> tuple[float, float]:
    """Run every share in its own process at once; the wall-clock from the first start to the last
    finish, and the largest peak RSS (MB) of the processes."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(shares)), context.Queue()
    processes = [context.Process(target=_run_share, args=(share, barrier, results)) for share in shares]
    for process in processes:
        process.start()
    done: list[tuple[float, float, float]] = []
    try:
        while len(done) < len(shares):
            try:
                done.append(results.get(timeout=5))
            except queue.Empty:
                dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"{len(dead)} of the {len(shares)} processes failed (exit codes {dead})") from None
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.exitcode is None:
                process.terminate()
    return max(end for _, end, _ in done) - min(start for start, _, _ in done), max(rss for _, _, rss in done)
