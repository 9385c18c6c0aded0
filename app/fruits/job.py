"""`fruits run`: the pipeline as its stages (fruits.stages), under the output's lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fruits.config import JobConfig
from fruits.errors import JobError
from fruits.lake import Lake, RunLocation, new_run_id
from fruits.lock import OutputLock, lock_store
from fruits.metrics import build_metrics
from fruits.weights import resolve_weights

__all__ = ["JobError", "RunResult", "run_job"]


@dataclass(frozen=True)
class RunResult:
    run: RunLocation
    metrics: dict
    pack: Optional[object] = None  # --pack: what the pack step did (fruits.pack_job.PackResult)


def run_job(config: JobConfig, spark=None) -> RunResult:
    """Run the whole pipeline for `config` (already validated) and commit the result."""
    from fruits import stages

    weights = resolve_weights(config.weights, config.model)  # may raise ConfigError before Spark starts
    if spark is None:
        from fruits.session import build_session

        spark = build_session(config)
    packed = None
    if config.pack:  # the images go into the pack first (under the pack's lock), then the run reads the pack
        from fruits.pack_job import run_pack

        packed = run_pack(config.pack_config(), spark)
        config = config.reading_the_pack()
    lake = Lake(spark, config.output_uri)
    lake.check_writable_output()
    # One writer per output: everything that reads or writes the output happens under the lock.
    run_id = new_run_id()
    with OutputLock(lock_store(spark, lake.output), lake.output, run_id, wait_seconds=config.lock_wait):
        lake.remove_stale_temporaries()
        run = stages.start(config, spark, lake, weights, run_id)
        listed = stages.list_stage(run)
        featurized = stages.featurize_stage(run, listed)
        reduced = stages.reduce_stage(run, listed, featurized)
        written = stages.write_stage(run, reduced)
        metrics = build_metrics(run, listed, featurized, reduced, written)
        stages.commit_stage(run, metrics)
        listed.cached.unpersist()
    return RunResult(run=run.run, metrics=metrics, pack=packed)
