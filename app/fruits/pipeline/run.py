"""A run in progress and what its stages hand each other.

    start -> list -> featurize -> reduce -> write -> (metrics) -> commit

`start` chooses the run folder (a new one, or the unfinished one `--resume` names) and marks it
ours; each stage (one module each in this package) takes the `Run` and what the stages before it
returned, as the small frozen records below. Per-image data stays in DataFrames; the records hold
counts, plans and summaries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Optional

from fruits.config.job_config import JobConfig, S3Settings
from fruits.config.layout import INT8, RunLocation
from fruits.config.uris import normalize_uri
from fruits.errors import ConfigError
from fruits.inputs.image_pack import PackSource
from fruits.models.quantize import Fp32Prebuild
from fruits.models.runtime import converts_fp32
from fruits.models.spec import ModelSpec, WeightsSpec
from fruits.pipeline.converted import ConvertedStore, model_key
from fruits.pipeline.incremental import PreviousRun, load_previous
from fruits.pipeline.pca import PcaSummary
from fruits.pipeline.progress import StageTimer
from fruits.spark.portable import is_connect, ship_file, task_cpus
from fruits.spark.session import effective_s3
from fruits.storage.reads import StoreSpec
from fruits.table.lake import Lake

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One run in progress: its settings, its session, its folder, and the stages' timings.

    `attempt` names this process's try at the run: its data files' folders (a resumed run's
    attempt is new, its run id the lost one's).
    """

    config: JobConfig
    spark: SparkSession
    lake: Lake
    run: RunLocation
    attempt: str
    weights: WeightsSpec
    previous: Optional[PreviousRun]
    resumed: bool
    timer: StageTimer
    started: float
    prebuild: Optional[Fp32Prebuild] = None  # the driver's fp32 model to convert, built while the input is listed

    @cached_property
    def model_spec(self) -> ModelSpec:
        """The fp32 model every worker builds (int8: the one the driver quantizes); weights files shipped once."""
        shipped = None
        # Every executor gets its own copy of a weights file, local or s3a://; over Spark Connect
        # also of the ImageNet file this machine has, which the server's workers cannot see.
        if self.weights.uri and (self.weights.kind == "file" or is_connect(self.spark)):
            shipped = ship_file(self.spark, self.weights.uri, self.s3)
        threads = task_cpus(self.spark)
        return ModelSpec(weights=self.weights, model=self.config.model, seed=self.config.seed, threads=threads,
                         shipped_file=shipped, quiet=not self.config.verbose)

    @property
    def int8_name(self) -> str:
        return f"{self.config.model}-int8.tflite"

    @cached_property
    def stored_int8(self) -> Optional[RunLocation]:
        """The run whose int8 model this run uses as it is: its own (resumed), else the previous run's."""
        sources = [self.run] + ([self.previous.run] if self.previous is not None else [])
        return next((run for run in sources if self.lake.files.exists(f"{run[INT8]}/{self.int8_name}")), None)

    @property
    def converted(self) -> ConvertedStore:
        """The output's converted models, made once and found by every later run."""
        return ConvertedStore(self.lake.files, self.lake.output)

    @property
    def needs_fp32_model(self) -> bool:
        """Whether this run builds the Keras model on the driver: int8 with no model to reuse, or an
        fp32 model to convert that the output does not hold yet."""
        if self.config.precision == "int8":
            return self.stored_int8 is None
        runtime = self.config.settings.model_runtime
        return converts_fp32(runtime) and not self.converted.has(model_key(self.model_spec, "fp32"))

    @cached_property
    def s3(self) -> S3Settings:
        """The S3 endpoint and style both S3 clients use, read from the session once per run."""
        return effective_s3(self.spark, self.config.s3)

    @property
    def store(self) -> StoreSpec:
        return StoreSpec.for_uri(self.config.input_uri, self.s3, self.config.settings.max_file_bytes)


@dataclass(frozen=True)
class Listed:
    files: DataFrame  # listing rows with their skip reason, persisted: path, size, modified, reason
    listed: int
    todo: DataFrame  # the listing rows this run processes (all of them unless --incremental)
    images: int  # readable images among `todo`
    incremental: dict
    reused_features: Optional[DataFrame]  # --incremental: rows of the previous run kept as they are
    reused_rejected: Optional[DataFrame]
    list_retries: int  # LIST requests retried after S3 pushed back
    cached: DataFrame  # the persisted listing behind `files`, released when the run ends
    carried_files: tuple[str, ...] = ()  # --incremental --reuse-model: previous features files the new snapshot keeps
    carried_rows: int = 0
    replaced_files: Optional[tuple[str, ...]] = None  # with carried files: the previous files that lost rows (None: all)
    pack: Optional[PackSource] = None  # the input is an image pack: the images' bytes come from it


@dataclass(frozen=True)
class Featurized:
    raw: DataFrame  # RAW_COLUMNS of every image in `Listed.todo`, read back from the run's waves
    worker: dict
    precision: dict
    waves: int
    resumed_images: int
    model_file: Optional[dict] = None  # the converted model the workers ran (fruits.pipeline.quantize), None: no model


@dataclass(frozen=True)
class Reduced:
    table: DataFrame  # FEATURE_COLUMNS + pca, computed as it is written
    rejected: DataFrame
    model: PipelineModel
    pca: PcaSummary
    accepted: int
    rejected_count: int
    carried_files: tuple[str, ...] = ()  # previous features files the new snapshot keeps as they are (table URIs)
    model_saved: bool = False  # the model is in the run folder already (a fitted one is saved as it is built)


@dataclass(frozen=True)
class Written:
    table: DataFrame  # the features table as written (Parquet read back; CSV: the computed frame)
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
    lake.begin()
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
            raise ConfigError(f"--resume {config.resume}: that run is committed already")
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
    r = Run(config, spark, lake, run, run_id, weights, previous, resumed, StageTimer(), time.time())
    if r.needs_fp32_model:
        r.prebuild = Fp32Prebuild(r.model_spec)
    return r
