"""`fruits run`: list -> decode + featurize -> scale + PCA -> write a run -> commit it.

This module wires the one-job modules together; each step's logic lives in its own module.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np

from fruits import __version__
from fruits.config import ConfigError, JobConfig, is_remote, local_path
from fruits.featurize import RESULT_SCHEMA, Counters, ModelSpec, make_featurize_function
from fruits.incremental import load_previous, plan_work
from fruits.ingest import (
    IMAGE_EXTENSIONS,
    IMAGE_NAME_GLOB,
    MAX_FILE_BYTES,
    ListedFile,
    count_local_entries,
    count_remote_files,
    escape_glob,
    list_input,
    list_local,
    parse_image_path,
)
from fruits.lake import Lake, RunLocation, new_run_id
from fruits.lock import OutputLock, lock_store
from fruits.packing import count_based_file_tasks, files_per_task
from fruits.progress import StageTimer, report_progress
from fruits.reduce import PcaSummary, fit_reduce, project
from fruits.report import pca_title, plot_pca_2d, write_json
from fruits.settings import Settings
from fruits.summary import counts_by, picture_points
from fruits.weights import WeightsSpec, resolve_weights

log = logging.getLogger(__name__)

ROWS_PER_OUTPUT_FILE = 20_000
MIN_ROWS_PER_OUTPUT_FILE = 1_000
PROGRESS_SECONDS = Settings.from_env().progress_seconds


class JobError(RuntimeError):
    """The run cannot finish; the message says why. Nothing was committed."""


@dataclass(frozen=True)
class RunResult:
    run: RunLocation
    metrics: dict


def run_job(config: JobConfig, spark=None) -> RunResult:
    """Run the whole pipeline for `config` (already validated) and commit the result."""
    weights = resolve_weights(config.weights, config.model)  # may raise ConfigError before Spark starts
    if spark is None:
        from fruits.session import build_session

        spark = build_session(config)
    lake = Lake(spark, config.output_uri)
    lake.check_writable_output()
    run = RunLocation(lake.output, new_run_id())
    # One writer per output: everything that reads or writes the output happens under the lock.
    with OutputLock(lock_store(spark, lake.output), lake.output, run.run_id, wait_seconds=config.lock_wait):
        lake.remove_stale_temporaries()
        return _run_locked(config, spark, lake, run, weights)


def _run_locked(config: JobConfig, spark, lake: Lake, run: RunLocation, weights: WeightsSpec) -> RunResult:
    previous = load_previous(spark, lake, config, weights) if config.incremental or config.reuse_model else None
    if config.reuse_model and previous is None:
        raise ConfigError(f"--reuse-model needs an earlier complete run in {lake.output}")
    log.info("run %s: %s -> %s (weights: %s)", run.run_id, config.input_uri, run.root, weights.description)
    timer = StageTimer()
    started = time.time()

    with timer("list"):
        listing = list_files(spark, config)
    plan = plan_work(spark, listing, previous if config.incremental else None)
    images = [f for f in plan.todo if f.is_readable_image]
    log.info("listed %d files; %d non-empty images to featurize", len(listing), len(images))
    if not any(f.is_readable_image for f in listing):
        raise ConfigError(f"input {config.input_uri} holds no readable image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")

    # A remote input is read file by file when only a part of it is wanted (--limit, or
    # --incremental with earlier rows to reuse), else in one recursive read, which lists far faster
    # than many paths. A local input is always read path by path, by the Python workers.
    subset = bool(config.limit) or len(images) < sum(1 for f in listing if f.is_readable_image)
    results, counters, precision = featurize(spark, config, weights, images, listing, subset, timer)
    accepted = results.filter("error IS NULL").select(*FEATURE_COLUMNS)
    rejected = rejected_rows(spark, results, [f for f in plan.todo if not f.is_readable_image])
    # The passes after featurizing (scaler, covariance, projection) cost little per row: one
    # partition per core instead of featurize's small ones, or task overhead would dominate them.
    # New rows are already cached in `results`; rows reused from an earlier run are read once here.
    accepted = accepted.coalesce(spark.sparkContext.defaultParallelism)
    if plan.reused_features is not None:
        reused = plan.reused_features.select(*FEATURE_COLUMNS).coalesce(spark.sparkContext.defaultParallelism)
        accepted = accepted.unionByName(reused).cache()
        rejected = rejected.unionByName(plan.reused_rejected.select(*REJECTED_COLUMNS))
    rejected = rejected.cache()
    n_accepted, n_rejected = accepted.count(), rejected.count()
    if n_accepted + n_rejected != len(listing):
        raise JobError(f"listed {len(listing)} files but accounted for {n_accepted} accepted + {n_rejected} rejected; "
                       "nothing was written")
    if n_accepted == 0:
        reasons = [r.reason for r in rejected.limit(3).collect()]
        raise JobError(f"none of the {len(images)} images could be decoded; for example: {reasons}")

    with timer("reduce"):
        if config.reuse_model:
            from pyspark.ml import PipelineModel

            model = PipelineModel.load(previous.run["model"])
            pca = PcaSummary(k=previous.metrics["pca"]["k"], explained_variance=previous.metrics["pca"]["explained_variance"],
                             target_variance=previous.metrics["pca"].get("target_variance"))
            log.info("projecting with the model of run %s (k=%d)", previous.run.run_id, pca.k)
        else:
            if n_accepted < 2:
                raise JobError(f"PCA needs at least 2 decoded images, got {n_accepted}; nothing was written")
            try:
                model, pca = fit_reduce(accepted, config.feature_dim, config.pca_k, config.pca_variance)
            except ValueError as exc:
                raise JobError(f"cannot fit the PCA: {exc}; nothing was written") from exc
        table = project(model, accepted)
        log.info("PCA: k=%d components explain %.1f%% of the variance", pca.k, 100 * pca.cumulative[-1])

    with timer("write"):
        lake.mark_run(run)
        write_table(table, run["features"], config.output_format, config.feature_dim,
                    partitions=output_files(n_accepted, spark.sparkContext.defaultParallelism))
        write_table(rejected, run["rejected"], config.output_format, config.feature_dim, partitions=1)
        model.write().overwrite().save(run["model"])
        # Read what was written rather than caching the table: caching 2048-d rows costs more
        # than reading two columns of the Parquet back (CSV has no vector column to read back).
        written = spark.read.parquet(run["features"]) if config.output_format == "parquet" else table
        points, point_labels = picture_points(written, config.seed)
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_pca_2d(points, point_labels, pca_title(weights.kind, pca.explained_variance, config.model),
                              Path(tmp) / "pca_2d.png")
            lake.upload(png, run["pca_2d.png"])

    evaluation = None
    if config.evaluate:
        with timer("evaluate"):
            evaluation = evaluate_run(spark, lake, run, written.cache(), config.feature_dim, config.seed)

    from pyspark.sql import functions as F

    by_label = counts_by(written.select("label"), "label")
    reasons = counts_by(rejected.select(F.substring_index("reason", ":", 1).alias("reason")), "reason")
    metrics = build_metrics(
        config, run, weights, spark, timer, started,
        listed=len(listing), images=len(images), accepted=n_accepted, rejected=n_rejected,
        by_label=dict(sorted(by_label.items())), by_reason=reasons,
        pca=pca.to_dict(), worker=counters.to_dict(), precision=precision,
        incremental=dict(plan.counts, previous_run=previous.run.run_id if previous else None, reused_model=config.reuse_model),
    )
    if evaluation is not None:
        metrics["evaluation"] = evaluation
    with tempfile.TemporaryDirectory() as tmp:
        lake.upload(write_json(metrics, Path(tmp) / "metrics.json"), run["metrics.json"])
    lake.commit(run)
    # The run is committed: what follows is housekeeping, and its failure must not fail the run
    # (a restart would recompute everything for nothing).
    try:
        lake.prune(config.keep_runs)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal after the commit
        log.warning("run %s is committed, but removing old runs failed: %s", run.run_id, exc)
    for frame in (written, accepted, rejected, results):
        frame.unpersist()
    return RunResult(run=run, metrics=metrics)


FEATURE_COLUMNS = ("path", "label", "split", "size", "modified", "features")
REJECTED_COLUMNS = ("path", "size", "modified", "reason")


def evaluate_run(spark, lake: Lake, run: RunLocation, table, feature_dim: int, seed: int) -> dict:
    """Logistic regression on the run's table; draws confusion.png into the run, returns the summary."""
    from fruits.evaluate import evaluate_table, plot_confusion, worst_classes

    summary, confusion = evaluate_table(spark, table, feature_dim, seed)
    worst = worst_classes(summary["recall_per_class"]["raw"])
    with tempfile.TemporaryDirectory() as tmp:
        picture = plot_confusion(confusion, worst, f"worst classes, raw features (accuracy {summary['accuracy']['raw']:.1%})",
                                 Path(tmp) / "confusion.png")
        lake.replace_file(picture, run["confusion.png"])
    return summary


def list_files(spark, config: JobConfig) -> list[ListedFile]:
    """Every file under the input, sorted by path, cut to --limit.

    A local input is listed byte-exactly in Python (fruits.ingest.list_local), a remote one through
    Spark's file index or Hadoop's listing (fruits.ingest.list_input); either is checked against
    an independent count of the same tree.
    """
    local = not is_remote(config.input_uri)
    try:
        if local:
            listing = list_local(str(local_path(config.input_uri)))
            expected = count_local_entries(str(local_path(config.input_uri)))
        else:
            expected = count_remote_files(spark, config.input_uri)
            listing = list_input(spark, config.input_uri, expected)
    except FileNotFoundError as exc:
        raise ConfigError(f"input {config.input_uri} does not exist") from exc
    if expected != len(listing):
        raise JobError(f"listed {len(listing)} entries under {config.input_uri}, but a second count finds {expected}: "
                       "the input is changing, or the listing lost files; nothing was written")
    if not listing:
        raise ConfigError(f"input {config.input_uri} contains no files")
    return listing[: config.limit] if config.limit else listing


def featurize(spark, config: JobConfig, weights: WeightsSpec, images: list[ListedFile], listing: list[ListedFile],
              subset: bool, timer: StageTimer):
    """Decode + ResNet50 for `images`: read just them when `subset`, else the whole input (`listing`).

    Returns a cached frame (path, label, split, size, modified, features, error), the workers'
    counters (model builds and calls, images, seconds decoding and in the model) and the
    precision record for metrics.json (int8: calibration and closeness to fp32). With no images
    it returns an empty frame without starting any Python worker.
    """
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    counters = Counters.create(sc)
    # Labels come from the paths the driver already holds: a broadcast join, not a Python UDF
    # (a second Python UDF in the plan would start a second set of Python workers).
    labels = spark.createDataFrame(
        [(f.path, meta.label, meta.split, f.size, f.modified) for f, meta in ((f, parse_image_path(f.path)) for f in images)],
        "path string, label string, split string, size bigint, modified bigint",
    )
    if not images:
        empty = labels.withColumn("features", F.lit(None).cast("array<float>")).withColumn("error", F.lit(None).cast("string"))
        return empty.cache(), counters, {"mode": config.precision}

    shipped = None
    if weights.kind == "file":
        sc.addFile(weights.uri)  # every executor gets its own copy, local or s3a://
        shipped = os.path.basename(weights.uri)
    threads = int(sc.getConf().get("spark.task.cpus", "1"))
    spec = ModelSpec(weights=weights, model=config.model, seed=config.seed, threads=threads, shipped_file=shipped)
    precision = {"mode": "fp32"}
    if config.precision == "int8":
        with timer("quantize"):
            spec, report = quantize_for_run(spark, spec, images, config.seed)
        precision = report.to_dict()
    featurize_partition = make_featurize_function(spec, config.batch_size, counters)

    parallelism = sc.defaultParallelism
    # Tiny JPEGs make Spark's byte-based splits far too coarse; size tasks by file count, aiming
    # at a multiple of the cores so the last wave keeps every core busy. The scan itself packs
    # them (fruits.packing): equal tasks but the last, so the cores may end up to one task apart;
    # in exchange there is no shuffle between reading the files and the model.
    partitions = max(1, math.ceil(len(images) / config.files_per_partition))
    partitions = min(len(images), math.ceil(partitions / parallelism) * parallelism)
    reader = spark.read.format("binaryFile")
    # `scanned`: the files the read goes through. A local input is read by the Python workers
    # themselves, path by path, byte-exact (fruits.featurize.read_local_file); a remote one by
    # Spark's binaryFile source: the listed images by their escaped paths, or the whole input,
    # image names only (pathGlobFilter) and no file over the size cap (the length filter is
    # applied from the listing, before any content is read).
    if not is_remote(config.input_uri):
        scanned = images
        rows = spark.sparkContext.parallelize([(f.path,) for f in images], partitions)
        contents = spark.createDataFrame(rows, "path string")
    elif subset:
        scanned = images
        contents = reader.load([escape_glob(f.path) for f in images])
    else:
        scanned = [f for f in listing if f.is_readable_image]
        contents = (reader.option("recursiveFileLookup", "true").option("pathGlobFilter", IMAGE_NAME_GLOB)
                    .load(config.input_uri).filter((F.col("length") > 0) & (F.col("length") <= MAX_FILE_BYTES)))
    per_task = files_per_task(len(scanned), partitions)
    results = (
        contents.select(*(c for c in ("path", "content") if c in contents.columns))
        .mapInArrow(featurize_partition, RESULT_SCHEMA)
        .join(F.broadcast(labels), "path")
        .select("path", "label", "split", "size", "modified", "features", "error")
        .cache()
    )
    log.info("featurizing %d images in %d tasks of up to %d files (batch %d, %d TF threads per task)",
             len(images), math.ceil(len(scanned) / per_task), per_task, config.batch_size, threads)
    with timer("featurize"), report_progress(lambda: counters.images_done.value, len(images), every=PROGRESS_SECONDS), \
            count_based_file_tasks(spark, per_task, max(f.size for f in scanned)):
        count = results.count()
    if count != len(images):
        raise JobError(f"listed {len(images)} images but read {count}: the input changed during the run")
    return results, counters, precision


def quantize_for_run(spark, spec: ModelSpec, images: list[ListedFile], seed: int) -> tuple:
    """Build the fp32 model on the driver, quantize it to int8 on a seeded sample of `images`,
    ship the TFLite file to the executors; returns the spec the workers build from, and the report."""
    import dataclasses
    import random

    from fruits.featurize import build_model, preprocessor, read_local_file
    from fruits.imaging import decode_image
    from fruits.quantize import CALIBRATION_IMAGES, CHECK_IMAGES, prepare_int8

    chosen = random.Random(seed).sample(images, min(len(images), CALIBRATION_IMAGES + CHECK_IMAGES))
    if all(f.path.startswith("file:") for f in chosen):
        contents = {f.path: read_local_file(f.path) for f in chosen}
        contents = {path: data for path, data in contents.items() if isinstance(data, bytes)}
    else:
        contents = dict(spark.read.format("binaryFile").load([escape_glob(f.path) for f in chosen]).select("path", "content").collect())
    decoded = [decode_image(bytes(contents[f.path])) for f in chosen if f.path in contents]
    pixels = np.stack([d.pixels for d in decoded if d.pixels is not None]) if decoded else np.zeros((0, 224, 224, 3), np.uint8)
    model = build_model(dataclasses.replace(spec, threads=os.cpu_count() or 1))
    folder = Path(tempfile.mkdtemp(prefix="fruits-int8-"))
    try:
        report = prepare_int8(model, preprocessor(spec.model), pixels, folder / f"{spec.model}-int8.tflite", os.cpu_count() or 1)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    spark.sparkContext.addFile(str(folder / f"{spec.model}-int8.tflite"))
    return dataclasses.replace(spec, precision="int8", quantized_file=f"{spec.model}-int8.tflite"), report


def rejected_rows(spark, results, skipped: list[ListedFile]):
    """path, size, modified, reason for every processed file that is not in the table.

    `skipped` are files never read: empty ones, and ones without an image extension.
    """
    decode_failures = results.filter("error IS NOT NULL").selectExpr("path", "size", "modified", "error AS reason")
    others = spark.createDataFrame(
        [(f.path, f.size, f.modified, f.skip_reason) for f in skipped],
        "path string, size bigint, modified bigint, reason string",
    )
    return decode_failures.unionByName(others)


def output_files(rows: int, cores: int) -> int:
    """Files of the features table: one per 20,000 rows, but at least one per core from 1,000 rows on.

    The projection runs in the writing tasks, so a single file would put it on a single core.

    >>> output_files(2000, 2), output_files(500, 8), output_files(90_483, 2)
    (2, 1, 5)
    """
    return max(1, math.ceil(rows / ROWS_PER_OUTPUT_FILE), min(cores, rows // MIN_ROWS_PER_OUTPUT_FILE))


def write_table(frame, uri: str, output_format: str, feature_dim: int, partitions: int) -> None:
    """Parquet as is; CSV with every vector flattened to one column per value (f_0..., pca_0...)."""
    from pyspark.sql import functions as F

    frame = frame.coalesce(max(1, partitions))
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


def build_metrics(config: JobConfig, run: RunLocation, weights: WeightsSpec, spark, timer: StageTimer,
                  started: float, *, listed: int, images: int, accepted: int, rejected: int, by_label: dict,
                  by_reason: dict, pca: dict, worker: dict, incremental: dict, precision: dict) -> dict:
    featurize_seconds = timer.seconds.get("featurize", 0.0)
    return {
        "run_id": run.run_id,
        "input": config.input_uri,
        "output": run.output,
        "run_path": run.root,
        "format": config.output_format,
        "model": config.model,
        "feature_dim": config.feature_dim,
        "precision": precision,
        "weights": weights.to_dict(),
        "image_weights": Settings.from_env().image_weights,
        "versions": _versions(spark),
        "settings": {
            "master": spark.sparkContext.master,
            "batch_size": config.batch_size,
            "files_per_partition": config.files_per_partition,
            "limit": config.limit,
            "seed": config.seed,
            "incremental": config.incremental,
        },
        "counts": {
            "listed": listed,
            "accepted": accepted,
            "rejected": rejected,
            "consistent": listed == accepted + rejected,
            "by_label": by_label,
            "rejected_by_reason": by_reason,
        },
        "incremental": incremental,
        "model_builds": worker["model_builds"],
        "model_calls": worker["model_calls"],
        # Summed over all Python workers (CPU-seconds when each task owns one core).
        "worker_seconds": {"decode": worker["decode_seconds"], "featurize": worker["infer_seconds"]},
        "stage_seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
        "total_seconds": round(time.time() - started, 3),
        "images_per_second": images / featurize_seconds if featurize_seconds else 0.0,
        "pca": pca,
    }


def _versions(spark) -> dict:
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
