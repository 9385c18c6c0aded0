"""Spark's own file scan, under count_based_file_tasks, gives tasks of a fixed number of files."""

from __future__ import annotations

import os

from fruits.packing import OPEN_COST, count_based_file_tasks


def write_files(folder, sizes: list[int]) -> None:
    for i, size in enumerate(sizes):
        (folder / f"f{i:03d}.bin").write_bytes(os.urandom(size))


def files_per_scan_task(spark, folder) -> list[int]:
    from pyspark.sql import functions as F

    frame = spark.read.format("binaryFile").load(str(folder)).select(F.spark_partition_id().alias("task"))
    return sorted((r["count"] for r in frame.groupBy("task").count().collect()), reverse=True)


def test_scan_tasks_hold_the_asked_number_of_files(spark, tmp_path):
    sizes = [200_000, 3, 50_000] + [5_000] * 20 + [1]  # 24 files, one far larger than the rest
    write_files(tmp_path, sizes)
    by_bytes = files_per_scan_task(spark, tmp_path)
    with count_based_file_tasks(spark, per_task=5, largest_file=max(sizes)):
        by_count = files_per_scan_task(spark, tmp_path)
    assert by_count == [5, 5, 5, 5, 4]
    assert by_bytes != by_count  # Spark's byte-based default packs these files differently


def test_settings_are_restored_after_the_block(spark, tmp_path):
    spark.conf.set(OPEN_COST, "1234567")
    try:
        with count_based_file_tasks(spark, per_task=2, largest_file=10):
            assert spark.conf.get(OPEN_COST) != "1234567"
        assert spark.conf.get(OPEN_COST) == "1234567"
    finally:
        spark.conf.unset(OPEN_COST)
    unset_before = spark.conf.get("spark.sql.files.minPartitionNum", None)
    with count_based_file_tasks(spark, per_task=2, largest_file=10):
        pass
    assert spark.conf.get("spark.sql.files.minPartitionNum", None) == unset_before
