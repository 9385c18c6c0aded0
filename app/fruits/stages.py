"""The stages of `fruits run`, each a function that takes what the stages before it returned.

    start -> list -> featurize -> reduce -> write -> (metrics) -> commit

Every per-image step is a DataFrame operation on the executors; the driver holds counts, the
folder plan, the PCA's dim x dim matrix and the picture's bounded sample, never one item per
image. Featurize writes the raw features of each wave of images into the run folder as Spark
commits it; the reduce passes read them back from there, so executors hold no feature cache at
any size, and a restarted run (`--resume`) featurizes only the images no finished wave holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Optional

from fruits.carry import carry_files
from fruits.config import ConfigError, JobConfig, S3Settings, normalize_uri
from fruits.errors import JobError
from fruits.featurize import Counters, ModelSpec, make_featurize_function
from fruits.image_pack import PackSource, packed_contents
from fruits.incremental import PreviousRun, load_previous, plan_work
from fruits.lake import Lake, RunLocation
from fruits.listing import ListingMismatch, list_files, with_labels, with_skip_reason
from fruits.packing import RAW_ROW_GROUP_BYTES, raw_files_for, tasks_for, waves_for
from fruits.progress import StageTimer, report_progress
from fruits.quantize import Fp32Prebuild, quantize_for_run
from fruits.reduce import PcaSummary, fit_reduce, project
from fruits.report import pca_title, plot_pca_2d, write_json
from fruits.schema import FEATURE_COLUMNS, FEATURES, FILE_KEY, INT8, METRICS, MODEL, PICTURE, RAW, RAW_SCHEMA, REJECTED, REJECTED_COLUMNS
from fruits.settings import Settings
from fruits.store import StoreSpec, effective_s3
from fruits.summary import counts_by, picture_points
from fruits.weights import WeightsSpec

log = logging.getLogger(__name__)

PROGRESS_SECONDS = Settings.from_env().progress_seconds
WAVE_IMAGES_SETTING = Settings.from_env().wave_images
REJECTED_ROWS_PER_FILE = 1_000_000


@dataclass
class Run:
    """One run in progress: its settings, its session, its folder, and the stages' timings."""

    config: JobConfig
    spark: object
    lake: Lake
    run: RunLocation
    weights: WeightsSpec
    previous: Optional[PreviousRun]
    resumed: bool
    timer: StageTimer
    started: float
    prebuild: Optional[Fp32Prebuild] = None  # int8: the driver's fp32 model, built while the input is listed

    @cached_property
    def model_spec(self) -> ModelSpec:
        """The fp32 model every worker builds (int8: the one the driver quantizes); weights files shipped once."""
        sc = self.spark.sparkContext
        shipped = None
        if self.weights.kind == "file":
            sc.addFile(self.weights.uri)  # every executor gets its own copy, local or s3a://
            shipped = os.path.basename(self.weights.uri)
        threads = int(sc.getConf().get("spark.task.cpus", "1"))
        return ModelSpec(weights=self.weights, model=self.config.model, seed=self.config.seed, threads=threads,
                         shipped_file=shipped)

    @property
    def int8_name(self) -> str:
        return f"{self.config.model}-int8.tflite"

    @cached_property
    def stored_int8(self) -> Optional[RunLocation]:
        """The run whose int8 model this run uses as it is: its own (resumed), else the previous run's."""
        sources = [self.run] + ([self.previous.run] if self.previous is not None else [])
        return next((run for run in sources if self.lake.exists(f"{run[INT8]}/{self.int8_name}")), None)

    @cached_property
    def s3(self) -> S3Settings:
        """The S3 endpoint and style both S3 clients use, read from the session once per run."""
        return effective_s3(self.spark, self.config.s3)

    @property
    def store(self) -> StoreSpec:
        return StoreSpec.for_uri(self.config.input_uri, self.s3)


@dataclass(frozen=True)
class Listed:
    files: object  # listing rows with their skip reason, persisted: path, size, modified, reason
    listed: int
    todo: object  # the listing rows this run processes (all of them unless --incremental)
    images: int  # readable images among `todo`
    incremental: dict
    reused_features: Optional[object]  # --incremental: rows of the previous run kept as they are
    reused_rejected: Optional[object]
    list_retries: int  # LIST requests retried after S3 pushed back
    cached: object  # the persisted listing behind `files`, released when the run ends
    carried_files: tuple[str, ...] = ()  # --incremental --reuse-model: previous features files kept whole
    carried_rows: int = 0
    pack: Optional[PackSource] = None  # the input is an image pack: the images' bytes come from it


@dataclass(frozen=True)
class Featurized:
    raw: object  # RAW_COLUMNS of every image in `Listed.todo`, read back from the run's waves
    worker: dict
    precision: dict
    waves: int
    resumed_images: int


@dataclass(frozen=True)
class Reduced:
    table: object  # FEATURE_COLUMNS + pca, computed as it is written
    rejected: object
    model: object
    pca: PcaSummary
    accepted: int
    rejected_count: int
    carried_files: tuple[str, ...] = ()  # written into the features table as they are (fruits.carry)


@dataclass(frozen=True)
class Written:
    table: object  # the features table as written (Parquet read back; CSV: the computed frame)
    by_label: dict
    by_reason: dict
    evaluation: Optional[dict]


def run_settings(config: JobConfig, weights: WeightsSpec) -> dict:
    """What a restarted run must share with a lost one to reuse its features."""
    return {"input": normalize_uri(config.input_uri), "model": config.model, "weights": weights.to_dict(),
            "precision": config.precision, "seed": config.seed, "limit": config.limit, "incremental": config.incremental}


def start(config: JobConfig, spark, lake: Lake, weights: WeightsSpec, run_id: str) -> Run:
    """Choose the run folder (a new one named `run_id`, or the one `--resume` names) and mark it ours.

    `run_id` is the id the output's lock was taken under, so a new run and its lock share one name
    in the logs.
    """
    previous = load_previous(spark, lake, config, weights) if config.incremental or config.reuse_model else None
    if config.reuse_model and previous is None:
        raise ConfigError(f"--reuse-model needs an earlier complete run in {lake.output}")
    settings = run_settings(config, weights)
    run, resumed = RunLocation(lake.output, run_id), False
    if config.resume == "auto":
        found = lake.resumable_run(settings)
        run, resumed = (found, True) if found is not None else (run, False)
    elif config.resume:
        run, resumed = RunLocation(lake.output, config.resume), True
        recorded = lake.run_settings(run)
        if recorded is None:
            raise ConfigError(f"--resume {config.resume}: {run.root} is not a run folder of this tool")
        if lake.is_complete(run):
            raise ConfigError(f"--resume {config.resume}: that run is complete already")
        current = lake.current_run()
        if current is not None and current.run_id > run.run_id:
            raise ConfigError(f"--resume {config.resume}: run {current.run_id} was committed since; start a new run instead")
        if recorded != settings:
            raise ConfigError(f"--resume {config.resume}: that run was started with other settings ({recorded}); "
                              "start a new run instead")
    if resumed:
        log.info("resuming run %s: its finished waves are reused", run.run_id)
        lake.clear_outputs(run)
    lake.mark_run(run, settings)
    log.info("run %s: %s -> %s (weights: %s)", run.run_id, config.input_uri, run.root, weights.description)
    r = Run(config, spark, lake, run, weights, previous, resumed, StageTimer(), time.time())
    if config.precision == "int8" and r.stored_int8 is None:
        r.prebuild = Fp32Prebuild(r.model_spec)
    return r


def list_stage(r: Run) -> Listed:
    """List the input, give each entry its skip reason, and plan an incremental run."""
    from pyspark.sql import functions as F

    with r.timer("list"):
        try:
            listing = list_files(r.spark, r.config.input_uri, r.s3, r.config.limit,
                                 r.config.input_list)
        except ListingMismatch as exc:
            raise JobError(str(exc)) from exc
        files, listed = with_skip_reason(listing.files), listing.listed
        readable = files.filter(F.col("reason").isNull()).count()
        if readable == 0:
            from fruits.ingest import IMAGE_EXTENSIONS

            raise ConfigError(f"input {r.config.input_uri} holds no readable image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        carry = r.config.reuse_model and r.config.output_format == "parquet"
        plan = plan_work(files, listed, r.previous if r.config.incremental else None, carry_files=carry)
        images = plan.todo.filter(F.col("reason").isNull()).count() if r.previous is not None and r.config.incremental else readable
    log.info("listed %d files; %d non-empty images to featurize", listed, images)
    counts = dict(plan.counts, previous_run=r.previous.run.run_id if r.previous else None, reused_model=r.config.reuse_model)
    return Listed(files=files, listed=listed, todo=plan.todo, images=images, incremental=counts,
                  reused_features=plan.reused_features, reused_rejected=plan.reused_rejected, list_retries=listing.retries,
                  cached=listing.files, carried_files=plan.carried_files, carried_rows=plan.carried_rows,
                  pack=listing.pack)


def featurize_stage(r: Run, listed: Listed) -> Featurized:
    """Featurize every image of `listed.todo` that no finished wave of this run holds yet."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark, config = r.spark, r.config
    sc = spark.sparkContext

    done = r.lake.finished_waves(r.run)
    earlier = list(done)
    # Every wave filters this frame: keep its small rows rather than recompute the plan per wave.
    images = listed.todo.filter(F.col("reason").isNull()).select(*FILE_KEY)
    if earlier:
        images = images.join(spark.read.schema(RAW_SCHEMA).parquet(*earlier).select(*FILE_KEY), FILE_KEY, "left_anti")
    images = images.persist(StorageLevel.MEMORY_AND_DISK)
    resumed_images = listed.images - images.count() if earlier else 0
    if earlier:
        log.info("resume: %d finished waves hold %d of the images; featurizing the other %d", len(earlier),
                 resumed_images, listed.images - resumed_images)
    counters = Counters.create(sc)
    precision: dict = {"mode": config.precision}
    todo = listed.images - resumed_images
    waves = waves_for(todo, WAVE_IMAGES_SETTING)
    # From a pack, the rows carry their bytes; from a folder, the workers read each batch's files.
    source = packed_contents(spark, listed.pack, images) if listed.pack is not None else images
    if waves or config.precision == "int8":  # int8: the model is carried into every run, even one with nothing new
        spec, precision = _model_spec(r, source)
    if waves:
        featurize = make_featurize_function(spec, r.store, config.batch_size, counters)
        first = len(done)
        log.info("featurizing %d images in %d wave(s) (batch %d, %d TF threads per task)", todo, waves,
                 config.batch_size, spec.threads)
        with r.timer("featurize"), report_progress(lambda: counters.images_done.value, todo, every=PROGRESS_SECONDS):
            for wave in range(waves):
                part = source.filter(F.pmod(F.xxhash64("path"), F.lit(waves)) == wave)
                per_wave = math.ceil(todo / waves)
                tasks = tasks_for(per_wave, config.files_per_partition, sc.defaultParallelism)
                files = raw_files_for(per_wave, config.feature_dim)
                uri = f"{r.run[RAW]}/wave-{first + wave:05d}"
                # The featurize tasks stay small (progress, balance); a shuffle gathers their rows into few files.
                (part.repartition(tasks).mapInArrow(featurize, RAW_SCHEMA).repartition(files)
                 .write.option("parquet.block.size", RAW_ROW_GROUP_BYTES).parquet(uri))
                done.append(uri)
    images.unpersist()
    raw = (spark.read.schema(RAW_SCHEMA).parquet(*done) if done else
           spark.createDataFrame([], RAW_SCHEMA))
    if earlier:  # a lost attempt may have featurized files that have changed or gone since
        raw = raw.join(listed.todo.select(*FILE_KEY), FILE_KEY, "left_semi")
    read = raw.count()
    if read != listed.images:
        raise JobError(f"listed {listed.images} images but featurized {read}: the input changed during the run")
    return Featurized(raw=raw, worker=counters.to_dict(), precision=precision, waves=len(done), resumed_images=resumed_images)


def _model_spec(r: Run, images) -> tuple[ModelSpec, dict]:
    """The spec every worker builds its model from (int8: `int8_model`)."""
    import dataclasses

    spec = r.model_spec
    if r.config.precision != "int8":
        return spec, {"mode": "fp32"}
    name, report = int8_model(r, spec, images)
    return dataclasses.replace(spec, precision="int8", quantized_file=name), report


def int8_model(r: Run, spec: ModelSpec, images) -> tuple[str, dict]:
    """This run's int8 model, shipped to the executors: its own (a resumed run), the previous run's
    (--incremental, --reuse-model: features stay comparable across runs), or a new one calibrated
    on a sample of `images`. Kept in the run folder either way, for the runs that follow."""
    name = r.int8_name
    folder = Path(tempfile.mkdtemp(prefix="fruits-int8-"))
    found = r.stored_int8
    if found is not None:
        r.lake.download(f"{found[INT8]}/{name}", folder / name)
        report = json.loads(r.lake.read_text(f"{found[INT8]}/report.json"))
        if found is not r.run:
            report["reused_from"] = report.get("reused_from") or found.run_id
            log.info("int8: reusing the model of run %s (calibrated once, so features stay comparable)", found.run_id)
    else:
        with r.timer("quantize"):
            prebuild, r.prebuild = r.prebuild, None  # the fp32 model is not needed after this stage
            try:
                report = quantize_for_run(r.spark, spec, images, r.store, folder / name, prebuild).to_dict()
            except ValueError as exc:
                raise JobError(str(exc)) from exc
    if found is not r.run:
        r.lake.upload(folder / name, f"{r.run[INT8]}/{name}")
        r.lake.write_text(f"{r.run[INT8]}/report.json", json.dumps(report))
    # Shipped under a name that says its content: Spark keeps every file added to a session and
    # refuses a second file of the same name with other bytes (a later int8 run in one session).
    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
    shipped = folder / f"{spec.model}-int8-{digest}.tflite"
    (folder / name).rename(shipped)
    r.spark.sparkContext.addFile(str(shipped))
    return shipped.name, report


def reduce_stage(r: Run, listed: Listed, featurized: Featurized) -> Reduced:
    """Scaler + PCA fitted on the accepted rows (or the stored model with --reuse-model), read from files."""
    from pyspark.sql import functions as F

    config, plan = r.config, listed
    accepted = with_labels(featurized.raw.filter(F.col("error").isNull())).select(*FEATURE_COLUMNS)
    rejected = (featurized.raw.filter(F.col("error").isNotNull()).select(*FILE_KEY, F.col("error").alias("reason"))
                .unionByName(listed.todo.filter(F.col("reason").isNotNull()).select(*REJECTED_COLUMNS)))
    if plan.reused_features is not None:
        accepted = accepted.unionByName(plan.reused_features.select(*FEATURE_COLUMNS))
        rejected = rejected.unionByName(plan.reused_rejected.select(*REJECTED_COLUMNS))
    n_accepted, n_rejected = accepted.count() + plan.carried_rows, rejected.count()
    if n_accepted + n_rejected != listed.listed:
        raise JobError(f"listed {listed.listed} files but accounted for {n_accepted} accepted + {n_rejected} rejected; "
                       "nothing was written")
    if n_accepted == 0:
        reasons = [row.reason for row in rejected.limit(3).collect()]
        raise JobError(f"none of the {listed.images} images could be decoded; for example: {reasons}")
    with r.timer("reduce"):
        if config.reuse_model:
            from pyspark.ml import PipelineModel

            model = PipelineModel.load(r.previous.run[MODEL])
            stored = r.previous.metrics["pca"]
            pca = PcaSummary(k=stored["k"], explained_variance=stored["explained_variance"],
                             target_variance=stored.get("target_variance"))
            log.info("projecting with the model of run %s (k=%d)", r.previous.run.run_id, pca.k)
        else:
            if n_accepted < 2:
                raise JobError(f"PCA needs at least 2 decoded images, got {n_accepted}; nothing was written")
            try:
                model, pca = fit_reduce(accepted, config.feature_dim, config.pca_k, config.pca_variance)
            except ValueError as exc:
                raise JobError(f"cannot fit the PCA: {exc}; nothing was written") from exc
        log.info("PCA: k=%d components explain %.1f%% of the variance", pca.k, 100 * pca.cumulative[-1])
    return Reduced(table=project(model, accepted), rejected=rejected, model=model, pca=pca,
                   accepted=n_accepted, rejected_count=n_rejected, carried_files=plan.carried_files)


def write_stage(r: Run, reduced: Reduced) -> Written:
    """Write the features and rejected tables, the model and the picture into the run folder."""
    from pyspark.sql import functions as F

    config, run = r.config, r.run
    with r.timer("write"):
        write_table(reduced.table, run[FEATURES], config.output_format, config.feature_dim)
        if reduced.carried_files:
            how = carry_files(r.spark, reduced.carried_files, run[FEATURES], r.s3)
            log.info("features: %d files of run %s carried over as %s", len(reduced.carried_files),
                     r.previous.run.run_id, how)
        rejected_files = max(1, math.ceil(reduced.rejected_count / REJECTED_ROWS_PER_FILE))
        write_table(reduced.rejected.coalesce(rejected_files), run[REJECTED], config.output_format, config.feature_dim)
        reduced.model.write().overwrite().save(run[MODEL])
        written = r.spark.read.parquet(run[FEATURES]) if config.output_format == "parquet" else reduced.table
        points, labels = picture_points(written, config.seed)
        with tempfile.TemporaryDirectory() as tmp:
            title = pca_title(r.weights.kind, reduced.pca.explained_variance, config.model)
            r.lake.upload(plot_pca_2d(points, labels, title, Path(tmp) / PICTURE), run[PICTURE])
    evaluation = None
    if config.evaluate:
        from fruits.evaluate import evaluate_run

        with r.timer("evaluate"):
            evaluation = evaluate_run(r.spark, r.lake, run, written, config.feature_dim, config.seed)
    by_reason = counts_by(reduced.rejected.select(F.substring_index("reason", ":", 1).alias("reason")), "reason")
    by_label = counts_by(written.select("label"), "label")
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


def commit_stage(r: Run, metrics: dict) -> None:
    """Write metrics.json, make the run current, then tidy up (failures there are warnings only)."""
    with tempfile.TemporaryDirectory() as tmp:
        r.lake.upload(write_json(metrics, Path(tmp) / METRICS), r.run[METRICS])
    r.lake.commit(r.run)
    # The run is committed: what follows is housekeeping, and its failure must not fail the run
    # (a restart would recompute everything for nothing).
    try:
        if r.lake.exists(r.run[RAW]):
            r.lake.delete(r.run[RAW])
        r.lake.prune(r.config.keep_runs)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal after the commit
        log.warning("run %s is committed, but removing working files or old runs failed: %s", r.run.run_id, exc)
