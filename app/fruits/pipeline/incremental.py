"""`--incremental`: reuse the current run's rows for files that did not change.

A file is unchanged when its path, size and modification time are those recorded in the current
run (the features and rejected tables carry `size` and `modified`). Unchanged files are neither read nor
featurized again; new and changed files are; files that disappeared drop out. Reuse is refused
when the current run was made with other weights, since its features would not be comparable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from fruits.config.job_config import JobConfig
from fruits.config.layout import FEATURES, REJECTED, RunLocation
from fruits.config.schema import FILE_KEY, LISTING_PATH, PCA_COLUMN
from fruits.config.uris import table_uri
from fruits.errors import ConfigError
from fruits.models.spec import WeightsSpec
from fruits.table.lake import Lake

log = logging.getLogger(__name__)

SOURCE_FILE = "_source_file"  # the previous run's file a row was read from

@dataclass(frozen=True)
class PreviousRun:
    run: RunLocation
    metrics: dict
    features: object  # DataFrame: path, label, split, size, modified, features (no pca)
    rejected: object  # DataFrame: path, size, modified, reason


@dataclass(frozen=True)
class Plan:
    """What this run must process (`todo`, listing rows), and the previous rows it keeps as they are."""

    todo: object
    reused_features: Optional[object]  # previous rows written again (projected again) into the new run
    reused_rejected: Optional[object]
    counts: dict
    carried_files: tuple[str, ...] = ()  # previous features files whose rows all stay: the new snapshot keeps them
    carried_rows: int = 0
    replaced_files: Optional[tuple[str, ...]] = None  # with carried files: the previous files that lost rows (None: all go)


def load_previous(spark, lake: Lake, config: JobConfig, weights: WeightsSpec) -> Optional[PreviousRun]:
    run = lake.current_run()
    if run is None:
        log.info("incremental: %s has no complete run yet, processing every file", lake.output)
        return None
    metrics = lake.read_metrics(run)
    previous = (metrics.get("model", "resnet50"), metrics["weights"], metrics["settings"]["seed"])
    if metrics.get("precision", {}).get("mode", "fp32") != config.precision:
        raise ConfigError(f"run {run.run_id} was made with --precision {metrics['precision']['mode']}; "
                          "--incremental reuses features only at the same precision: drop it to featurize everything")
    if previous != (config.model, weights.to_dict(), config.seed):
        raise ConfigError(
            f"run {run.run_id} used {previous[0]} with {metrics['weights']['kind']} weights (seed {previous[2]}); "
            "--incremental reuses features only with the same model and weights: drop it to featurize everything"
        )
    from pyspark.sql import functions as F

    features = lake.read(spark, FEATURES).drop(PCA_COLUMN).withColumn("path", F.expr(LISTING_PATH))
    rejected = lake.read(spark, REJECTED, run.run_id).withColumn("path", F.expr(LISTING_PATH))
    return PreviousRun(run=run, metrics=metrics, features=features, rejected=rejected)


def plan_work(listing, listed: int, previous: Optional[PreviousRun], carry_files: bool = False) -> Plan:
    """Split the listing (a DataFrame with FILE_KEY) into files to process and previous rows to keep.

    Joins and anti-joins on (path, size, modified): only counts reach the driver. With
    `carry_files` (the stored projection is reused, so kept rows do not change), every previous
    features file whose rows all stay is kept in the new snapshot as it is instead of being read and
    written again; only the files that lost a row are rewritten (and leave the snapshot).
    """
    if previous is None:
        return Plan(todo=listing, reused_features=None, reused_rejected=None,
                    counts={"new": listed, "reused": 0, "changed": 0, "removed": 0})
    keys = listing.select(*FILE_KEY)
    kept = previous.features.join(keys, FILE_KEY, "left_semi")
    reused_rejected = previous.rejected.join(keys, FILE_KEY, "left_semi")
    reused_keys = kept.select(*FILE_KEY).unionByName(reused_rejected.select(*FILE_KEY))
    todo = listing.join(reused_keys, FILE_KEY, "left_anti")
    before = previous.features.select("path").unionByName(previous.rejected.select("path"))
    reused = reused_keys.count()
    counts = {"new": listed - reused, "reused": reused,
              "changed": todo.join(before, "path", "left_semi").count(),
              "removed": before.join(keys.select("path"), "path", "left_anti").count()}
    carried, carried_rows, rewritten, replaced = (), 0, kept, None
    if carry_files:
        carried, carried_rows, replaced, rewritten = split_by_file(previous.features, keys)
        counts.update(carried_files=len(carried), carried_rows=carried_rows)
    log.info("incremental against run %s: %d new or changed files, %d reused, %d removed",
             previous.run.run_id, counts["new"], counts["reused"], counts["removed"])
    if carry_files:
        log.info("incremental: %d files of run %s hold only kept rows (%d) and stay in the table as they are; "
                 "the others are rewritten", len(carried), previous.run.run_id, carried_rows)
    return Plan(todo=todo, reused_features=rewritten, reused_rejected=reused_rejected, counts=counts,
                carried_files=carried, carried_rows=carried_rows, replaced_files=replaced)


def split_by_file(features, keys) -> tuple[tuple[str, ...], int, Optional[tuple[str, ...]], object]:
    """The previous features files whose rows all stay (their table URIs and row count), the files
    that lose rows (table URIs; None when no file is kept whole), and the kept rows of those. One row per file reaches the driver,
    never one per image."""
    from pyspark.sql import functions as F

    with_file = features.withColumn(SOURCE_FILE, F.input_file_name())
    touched = with_file.join(keys, FILE_KEY, "left_anti").select(SOURCE_FILE).distinct()
    counted = with_file.groupBy(SOURCE_FILE).count().join(touched.withColumn("lost", F.lit(True)), SOURCE_FILE, "left")
    per_file = counted.collect()
    whole = [row for row in per_file if not row["lost"]]
    # Nothing kept whole: every previous file goes, as in a run without carried files (None).
    replaced = tuple(sorted(table_uri(row[SOURCE_FILE]) for row in per_file if row["lost"])) if whole else None
    rest = with_file.join(touched, SOURCE_FILE, "left_semi").drop(SOURCE_FILE).join(keys, FILE_KEY, "left_semi")
    return (tuple(sorted(table_uri(row[SOURCE_FILE]) for row in whole)), sum(row["count"] for row in whole), replaced, rest)
