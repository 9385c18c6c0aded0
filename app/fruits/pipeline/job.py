"""`fruits run`: the pipeline as its stages, in order, under the output's lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from fruits.config.job_config import JobConfig
from fruits.config.layout import RunLocation, new_run_id
from fruits.errors import JobError
from fruits.models.weights import resolve_weights
from fruits.pipeline.commit import commit_stage
from fruits.pipeline.featurize import featurize_stage
from fruits.pipeline.listing import list_stage
from fruits.pipeline.metrics import build_metrics
from fruits.pipeline.pack import PackResult, run_pack
from fruits.pipeline.reduce import reduce_stage
from fruits.pipeline.run import start
from fruits.pipeline.write import write_stage
from fruits.spark.session import build_session, effective_s3
from fruits.table.lake import Lake
from fruits.table.lock import OutputLock, lock_store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["JobError", "RunResult", "run_job"]


@dataclass(frozen=True)
class RunResult:
    run: RunLocation
    metrics: dict
    pack: Optional[PackResult] = None  # --pack: what the pack step did


def run_job(config: JobConfig, spark: Optional[SparkSession] = None) -> RunResult:
    """Run the whole pipeline for `config` (already validated) and commit the result."""
    weights = resolve_weights(config.weights, config.model, config.settings)  # may raise ConfigError before Spark starts
    if spark is None:
        spark = build_session(config)
    packed = None
    if config.pack:  # the images go into the pack first (under the pack's lock), then the run reads the pack
        packed = run_pack(config.pack_config(), spark)
        config = config.reading_the_pack()
    lake = Lake(spark, config.output_uri, config.catalog, effective_s3(spark, config.s3))
    lake.check_writable_output()
    # One writer per output: everything that reads or writes the output happens under the lock.
    run_id = new_run_id()
    store = lock_store(spark, lake.output, effective_s3(spark, config.s3))
    lock = OutputLock(store, lake.output, run_id, wait_seconds=config.lock_wait,
                      lease_seconds=config.settings.lock_lease_seconds, pod_uid=config.settings.pod_uid)
    with lock:
        run = start(config, spark, lake, weights, run_id)
        listed = list_stage(run)
        featurized = featurize_stage(run, listed)
        reduced = reduce_stage(run, listed, featurized)
        written = write_stage(run, reduced)
        metrics = build_metrics(run, listed, featurized, reduced, written)
        commit_stage(run, metrics, fence=lock.confirm, replaced=listed.replaced_files)
        listed.cached.unpersist()
    return RunResult(run=run.run, metrics=metrics, pack=packed)
