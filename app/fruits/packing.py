"""Read tasks of N files each, straight from Spark's file scan, without a shuffle.

Spark packs files into read tasks by bytes: each file counts as its length plus
`spark.sql.files.openCostInBytes`, and a task is closed when the next file would pass
`spark.sql.files.maxPartitionBytes` (`FilePartition.getFilePartitions`, "next fit decreasing").
For 5 KB JPEGs that gives tasks whose size has nothing to do with the work in them (inference
costs the same per image whatever its bytes). Setting the open cost above the bytes of any whole
task makes the file count the only thing that matters: with cost C and a maximum of N * C - 1,
every task holds exactly N files (the last one the rest), zero-byte files included.

Why not `repartition(n)` after the read: it costs a separate stage that reads every file and
shuffles its bytes before any Python worker starts (about 4 s of 2 cores per 2,000 images here),
while a task that reads its own files hands them to the model as it goes. The settings are
session-wide SQL settings, read when the scan is planned, so they are set only around the one
action that materializes the scan, and restored afterwards.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

OPEN_COST = "spark.sql.files.openCostInBytes"
MAX_PARTITION_BYTES = "spark.sql.files.maxPartitionBytes"
MIN_PARTITION_NUM = "spark.sql.files.minPartitionNum"
MAX_PARTITION_NUM = "spark.sql.files.maxPartitionNum"


def files_per_task(files: int, tasks: int) -> int:
    """Files in each of `tasks` read tasks so that together they hold `files` (the last fewer).

    >>> files_per_task(2000, 32)
    63
    """
    if files < 1 or tasks < 1:
        raise ValueError(f"need at least one file and one task, got {files} files for {tasks} tasks")
    return math.ceil(files / tasks)


def count_based_settings(per_task: int, largest_file: int) -> dict[str, str]:
    """SQL settings under which Spark's file scan puts exactly `per_task` files in each task.

    A task closes when (files so far) * cost + their bytes + the next file's bytes exceeds the
    maximum, per_task * cost - 1; with cost > per_task * largest_file the bytes can never tip it,
    only the count.
    """
    if per_task < 1:
        raise ValueError(f"files per task must be at least 1, got {per_task}")
    cost = per_task * max(1, largest_file) + 1
    return {
        OPEN_COST: str(cost),
        MAX_PARTITION_BYTES: str(per_task * cost - 1),
        # Otherwise Spark lowers the maximum to (all files' cost) / (cores), splitting small inputs further.
        MIN_PARTITION_NUM: "1",
        # An explicit cap on the number of tasks would re-pack by bytes; the count is chosen here.
        MAX_PARTITION_NUM: str(2**31 - 1),
    }


@contextmanager
def count_based_file_tasks(spark, per_task: int, largest_file: int) -> Iterator[None]:
    """Within the block, file scans that run pack `per_task` files per task; settings restored after."""
    settings = count_based_settings(per_task, largest_file)
    before = {key: spark.conf.get(key, None) for key in settings}
    try:
        for key, value in settings.items():
            spark.conf.set(key, value)
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
