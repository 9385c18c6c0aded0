"""How many waves and tasks a featurize pass uses: arithmetic on counts, never on per-image lists.

A wave is one Spark job that featurizes part of the images and commits their raw features as its
own folder; a restarted run reuses every committed wave (fruits.pipeline.stages). Within a wave, tasks of
`files_per_task` images keep every core busy to the end and the progress line moving: the number
of tasks is rounded up to a multiple of the cores, so the last round of tasks fills them all.
The wave's raw features are then written as files sized by bytes, never by the core count: small
files would make the reduce passes open thousands of them at ten million images.
"""

from __future__ import annotations

import math

# Raw-feature files of a wave hold at least this much (and under twice it), unless the wave is smaller.
RAW_FILE_BYTES = 128 * 1024 * 1024
# Their Parquet row groups: the unit a reader's split can start at, so even a single small file
# is read back by every core (a 2,000-image wave is one 16 MB file: four row groups, not one).
RAW_ROW_GROUP_BYTES = 4 * 1024 * 1024
# A raw row beyond its float32 features: path, size, modified, error, Parquet's own overhead.
RAW_ROW_OVERHEAD_BYTES = 160


def waves_for(images: int, wave_images: int) -> int:
    """Number of waves for `images` images (0 when there is nothing to do).

    >>> waves_for(0, 16_384), waves_for(2000, 16_384), waves_for(90_483, 16_384)
    (0, 1, 6)
    """
    if wave_images < 1:
        raise ValueError(f"images per wave must be at least 1, got {wave_images}")
    return math.ceil(images / wave_images)


def tasks_for(images: int, files_per_task: int, cores: int) -> int:
    """Tasks for one wave of `images`: about `files_per_task` each, a multiple of `cores`, at most one per image.

    >>> tasks_for(2000, 64, 2), tasks_for(10, 64, 8), tasks_for(5, 1, 8)
    (32, 8, 5)
    """
    if files_per_task < 1 or cores < 1:
        raise ValueError(f"need at least one file per task and one core, got {files_per_task} and {cores}")
    tasks = max(1, math.ceil(images / files_per_task))
    return max(1, min(max(images, 1), math.ceil(tasks / cores) * cores))


def raw_files_for(images: int, dim: int, target_bytes: int = RAW_FILE_BYTES) -> int:
    """Files for one wave's raw features: `target_bytes` to twice that each, one for a smaller wave.

    >>> raw_files_for(16_384, 2048), raw_files_for(100, 2048), raw_files_for(100_000, 2048), raw_files_for(0, 1280)
    (1, 1, 6, 1)
    """
    size = images * (dim * 4 + RAW_ROW_OVERHEAD_BYTES)
    return max(1, size // target_bytes)
