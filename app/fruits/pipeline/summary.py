"""What the driver takes from a run's tables: summaries only, never one item per image.

Counts per class and per reject reason come from `groupBy` (one row per class or reason); the PCA
picture draws from a seeded stratified sample of at most `PER_CLASS` points per class and
`MAX_POINTS` in all, each point only the first two components.
"""

from __future__ import annotations

from fruits.report.pictures import MAX_POINTS

PER_CLASS = 200


def picture_points(frame, seed: int, first: str = "pca") -> tuple[list[list[float]], list[str], list[str]]:
    """(points, labels, paths) for the 2-D pictures from a frame with `label`, `path` and an array column `first`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("label").orderBy(F.rand(seed))
    rows = (frame.select("label", "path", F.slice(first, 1, 2).alias("xy"))
            .withColumn("_rank", F.row_number().over(order)).filter(F.col("_rank") <= PER_CLASS)
            .orderBy("_rank", "label").limit(MAX_POINTS).collect())
    return [list(r.xy) for r in rows], [r.label for r in rows], [r.path for r in rows]


def counts_by(frame, column: str) -> dict[str, int]:
    """Rows per value of `column`, largest first (one row per distinct value reaches the driver)."""
    rows = frame.groupBy(column).count().collect()
    return dict(sorted(((r[column], int(r["count"])) for r in rows), key=lambda kv: (-kv[1], str(kv[0]))))
