"""The write stage: the features and rejected tables, the fitted model and the picture, into the run folder."""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

from fruits.config.layout import FEATURES, MODEL, REJECTED
from fruits.pipeline.run import Reduced, Run, Written
from fruits.pipeline.summary import counts_by, picture_points
from fruits.report.evaluate import evaluate_run
from fruits.report.pictures import draw_run_pictures, pca_title
from fruits.storage.copies import carry_files

log = logging.getLogger(__name__)

REJECTED_ROWS_PER_FILE = 1_000_000


def write_stage(r: Run, reduced: Reduced) -> Written:
    """Write the features and rejected tables, the model and the pictures into the run folder."""
    from pyspark.sql import functions as F

    config, run = r.config, r.run
    with r.timer("write"):
        write_table(reduced.table, run[FEATURES], config.output_format, config.feature_dim)
        if reduced.carried_files:
            how = carry_files(r.lake.files, reduced.carried_files, run[FEATURES], r.s3)
            log.info("features: %d files of run %s carried over as %s", len(reduced.carried_files),
                     r.previous.run.run_id, how)
        rejected_files = max(1, math.ceil(reduced.rejected_count / REJECTED_ROWS_PER_FILE))
        write_table(reduced.rejected.coalesce(rejected_files), run[REJECTED], config.output_format, config.feature_dim)
        reduced.model.write().overwrite().save(run[MODEL])
        written = r.spark.read.parquet(run[FEATURES]) if config.output_format == "parquet" else reduced.table
        by_label = counts_by(written.select("label"), "label")
        points, labels, paths = picture_points(written, config.seed)
        pca = reduced.pca
        with tempfile.TemporaryDirectory() as tmp:
            title = pca_title(r.weights.kind, pca.explained_variance, config.model)
            drawn = draw_run_pictures(Path(tmp), points, labels, paths, title, pca.spectrum or pca.explained_variance,
                                      pca.k, pca.target_variance, sizes=by_label)
            for name, local in drawn.items():
                r.lake.files.upload(local, run[name])
    evaluation = None
    if config.evaluate:
        with r.timer("evaluate"):
            evaluation = evaluate_run(r.spark, r.lake.files, run, written, config.feature_dim, config.seed)
    by_reason = counts_by(reduced.rejected.select(F.substring_index("reason", ":", 1).alias("reason")), "reason")
    return Written(table=written, by_label=dict(sorted(by_label.items())), by_reason=by_reason, evaluation=evaluation)


def write_table(frame, uri: str, output_format: str, feature_dim: int) -> None:
    """Parquet as is; CSV with every vector flattened to one column per value (f_0..., pca_0...).

    Files follow the partitions: the raw features are read back in splits of Spark's
    `spark.sql.files.maxPartitionBytes`, so the table's files are sized by bytes, not by cores.
    """
    from pyspark.sql import functions as F

    if output_format == "parquet":
        frame.write.mode("errorifexists").parquet(uri)
        return
    columns = [F.col(c) for c in frame.columns if c not in ("features", "pca")]
    if "features" in frame.columns:
        columns += [F.col("features")[i].alias(f"f_{i}") for i in range(feature_dim)]
    if "pca" in frame.columns:
        k = len(frame.select("pca").first()[0])
        columns += [F.col("pca")[i].alias(f"pca_{i}") for i in range(k)]
    frame.select(*columns).write.mode("errorifexists").option("header", "true").csv(uri)


