"""metrics.json: what a run did, built from the stages' results (summaries only)."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from typing import Optional

from fruits import __version__
from fruits.pipeline.run import Featurized, Listed, Reduced, Run, Written
from fruits.spark.portable import conf_value, driver_heap


def build_metrics(r: Run, listed: Listed, featurized: Featurized, reduced: Reduced, written: Written) -> dict:
    """The run's record: settings, versions, counts, timings, PCA, precision, incremental plan."""
    config, timer = r.config, r.timer
    featurize_seconds = timer.seconds.get("featurize", 0.0)
    featurized_images = featurized.worker["images_done"]
    metrics = {
        "run_id": r.run.run_id,
        "input": config.input_uri,
        # An image pack (fruits.inputs.image_pack) as read by this run: its generations and rows.
        "input_pack": ({"generations": [g.name for g in listed.pack.manifest.generations], "rows": listed.pack.manifest.rows}
                       if listed.pack is not None else None),
        "output": r.run.output,
        "run_path": r.run.root,
        "format": config.output_format,
        "model": config.model,
        "feature_dim": config.feature_dim,
        "precision": featurized.precision,
        # The runtime that ran the model on the workers, and whether this run converted its file.
        "model_file": featurized.model_file,
        "weights": r.weights.to_dict(),
        "image_weights": config.settings.image_weights,
        "versions": versions(r.spark),
        "settings": {
            "master": conf_value(r.spark, "spark.master"),
            "remote": r.config.remote,
            "batch_size": config.batch_size,
            "files_per_partition": config.files_per_partition,
            "limit": config.limit,
            "seed": config.seed,
            "incremental": config.incremental,
        },
        "counts": {
            "listed": listed.listed,
            "images": listed.images,  # readable images this run had to featurize (not reused from a previous run)
            "accepted": reduced.accepted,
            "rejected": reduced.rejected_count,
            "consistent": listed.listed == reduced.accepted + reduced.rejected_count,
            "by_label": written.by_label,
            "rejected_by_reason": written.by_reason,
        },
        "incremental": listed.incremental,
        "resume": {"resumed": r.resumed, "waves": featurized.waves, "images_from_earlier_attempts": featurized.resumed_images},
        # Requests S3 made us repeat (SlowDown, server errors, dropped connections): retried, never fatal.
        "s3_retries": {"list": listed.list_retries, "read": featurized.worker["s3_retries"]},
        "model_builds": featurized.worker["model_builds"],
        "model_calls": featurized.worker["model_calls"],
        # The slowest task from its start (a cold worker: the process's start) to its model and first result.
        "worker_start_seconds": {"model_ready": featurized.worker["model_ready_seconds"],
                                 "first_result": featurized.worker["first_result_seconds"]},
        # Summed over all Python workers (CPU-seconds when each task owns one core); decode includes reading.
        "worker_seconds": {"decode": featurized.worker["decode_seconds"], "featurize": featurized.worker["infer_seconds"]},
        "stage_seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
        "total_seconds": round(time.time() - r.started, 3),
        # The featurize stage's rate (files to raw features), not the whole run's.
        "images_per_second": featurized_images / featurize_seconds if featurize_seconds else 0.0,
        "pca": reduced.pca.to_dict(),
        "driver": driver_memory(r.spark),
    }
    if written.evaluation is not None:
        metrics["evaluation"] = written.evaluation
    return metrics


def driver_memory(spark) -> dict:
    """Peak memory of the driver so far: its Python process (RSS) and, where the driver's JVM is in
    this process (not over Spark Connect), its heap (`fruits.spark.portable.driver_heap`)."""
    import resource

    return {"python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), **driver_heap(spark)}


def versions(spark) -> dict:
    def version(name: str) -> Optional[str]:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "fruits": __version__,
        "spark": spark.version,
        "python": platform.python_version(),
        "tensorflow": version("tensorflow-cpu") or version("tensorflow"),
        "keras": version("keras"),
    }
