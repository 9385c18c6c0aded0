"""The write stage: the tables' data files (committed later, fruits.pipeline.commit), and the fitted
model and the pictures into the run folder."""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

from fruits.config.layout import CSV_EXPORT, FEATURES, MODEL, REJECTED
from fruits.config.schema import TABLE_PATH
from fruits.config.uris import spark_uri
from fruits.pipeline.run import Reduced, Run, Written
from fruits.pipeline.summary import counts_by, picture_points
from fruits.report.evaluate import evaluate_run
from fruits.report.pictures import draw_run_pictures, pca_title

log = logging.getLogger(__name__)

REJECTED_ROWS_PER_FILE = 1_000_000


def write_stage(r: Run, reduced: Reduced) -> Written:
    """Write the tables' data files of this attempt, the model and the pictures into the run folder."""
    from pyspark.sql import functions as F

    config, run = r.config, r.run
    features = r.lake.data_folder(FEATURES, r.attempt)
    with r.timer("write"):
        reduced.table.withColumn("path", F.expr(TABLE_PATH)).write.mode("error").parquet(features)
        if reduced.carried_files:
            log.info("features: %d files of run %s stay in the table as they are", len(reduced.carried_files),
                     r.previous.run.run_id)
        rejected_files = max(1, math.ceil(reduced.rejected_count / REJECTED_ROWS_PER_FILE))
        rejected = reduced.rejected.withColumn("path", F.expr(TABLE_PATH)).coalesce(rejected_files)
        rejected.write.mode("error").parquet(r.lake.data_folder(REJECTED, r.attempt))
        if not reduced.model_saved:
            reduced.model.write().overwrite().save(run[MODEL])
        written = r.spark.read.parquet(features, *[spark_uri(f) for f in reduced.carried_files])
        if config.output_format == "csv":
            write_csv(written, run[CSV_EXPORT], config.feature_dim)
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


def write_csv(frame, uri: str, feature_dim: int) -> None:
    """A CSV export of the features beside the table, every vector flattened to one column per
    value (f_0..., pca_0...), for tools that read nothing else."""
    from pyspark.sql import functions as F

    columns = [F.col(c) for c in frame.columns if c not in ("features", "pca")]
    columns += [F.col("features")[i].alias(f"f_{i}") for i in range(feature_dim)]
    k = len(frame.select("pca").first()[0])
    columns += [F.col("pca")[i].alias(f"pca_{i}") for i in range(k)]
    frame.select(*columns).write.mode("overwrite").option("header", "true").csv(uri)
