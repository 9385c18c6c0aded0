"""`--incremental`: reuse the current run's rows for files that did not change.

A file is unchanged when its path, size and modification time are those recorded in the current
run (features/ and rejected/ carry `size` and `modified`). Unchanged files are neither read nor
featurized again; new and changed files are; files that disappeared drop out. Reuse is refused
when the current run was made with other weights, since its features would not be comparable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from fruits.config import ConfigError, JobConfig
from fruits.ingest import LISTED_SCHEMA, ListedFile
from fruits.lake import Lake, RunLocation
from fruits.weights import WeightsSpec

log = logging.getLogger(__name__)

KEY = ["path", "size", "modified"]


@dataclass(frozen=True)
class PreviousRun:
    run: RunLocation
    metrics: dict
    features: object  # DataFrame: path, label, split, size, modified, features (no pca)
    rejected: object  # DataFrame: path, size, modified, reason


@dataclass(frozen=True)
class Plan:
    """What this run must process, and the previous rows it keeps as they are."""

    todo: list[ListedFile]
    reused_features: Optional[object]
    reused_rejected: Optional[object]
    counts: dict


def load_previous(spark, lake: Lake, config: JobConfig, weights: WeightsSpec) -> Optional[PreviousRun]:
    run = lake.current_run()
    if run is None:
        log.info("incremental: %s has no complete run yet, processing every file", lake.output)
        return None
    metrics = lake.read_metrics(run)
    if metrics.get("format") != "parquet":
        raise ConfigError(f"--incremental needs a Parquet output; run {run.run_id} is {metrics.get('format')}")
    previous = (metrics.get("model", "resnet50"), metrics["weights"], metrics["settings"]["seed"])
    if metrics.get("precision", {}).get("mode", "fp32") != config.precision:
        raise ConfigError(f"run {run.run_id} was made with --precision {metrics['precision']['mode']}; "
                          "--incremental reuses features only at the same precision: drop it to featurize everything")
    if previous != (config.model, weights.to_dict(), config.seed):
        raise ConfigError(
            f"run {run.run_id} used {previous[0]} with {metrics['weights']['kind']} weights (seed {previous[2]}); "
            "--incremental reuses features only with the same model and weights: drop it to featurize everything"
        )
    features = spark.read.parquet(run["features"]).drop("pca")
    rejected = spark.read.parquet(run["rejected"])
    return PreviousRun(run=run, metrics=metrics, features=features, rejected=rejected)


def plan_work(spark, listing: list[ListedFile], previous: Optional[PreviousRun]) -> Plan:
    """Split the listing into files to process and previous rows to keep."""
    if previous is None:
        return Plan(todo=listing, reused_features=None, reused_rejected=None,
                    counts={"new": len(listing), "reused": 0, "changed": 0, "removed": 0})
    from pyspark.sql import functions as F

    current = F.broadcast(spark.createDataFrame([(f.path, f.size, f.modified) for f in listing], LISTED_SCHEMA))
    reused_features = previous.features.join(current, KEY, "inner").cache()
    reused_rejected = previous.rejected.join(current, KEY, "inner").cache()
    reused = {r.path for r in reused_features.select("path").union(reused_rejected.select("path")).collect()}
    before = {r.path for r in previous.features.select("path").union(previous.rejected.select("path")).collect()}
    now = {f.path for f in listing}
    todo = [f for f in listing if f.path not in reused]
    counts = {"new": len(todo), "reused": len(reused), "changed": len((before & now) - reused), "removed": len(before - now)}
    log.info("incremental against run %s: %d new or changed files, %d reused, %d removed",
             previous.run.run_id, counts["new"], counts["reused"], counts["removed"])
    return Plan(todo=todo, reused_features=reused_features, reused_rejected=reused_rejected, counts=counts)
