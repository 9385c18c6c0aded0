"""The featurize stage: every image of the run's plan through the CNN, in waves whose raw features
are committed as Spark finishes them, so a restarted run (`--resume`) featurizes only the images
no finished wave holds. The workers run `fruits.pipeline.featurizer`'s function.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING, Optional

from fruits.config.layout import RAW
from fruits.config.schema import FILE_KEY, FILE_SCHEMA, RAW_COLUMNS, RAW_SCHEMA
from fruits.errors import JobError
from fruits.inputs.image_pack import packed_contents
from fruits.models.runtime import converts_fp32
from fruits.models.spec import ModelSpec
from fruits.pipeline.featurizer import add_wave, make_featurize_function, output_schema, worker_dict, worker_sums, worker_totals
from fruits.pipeline.progress import report_progress
from fruits.pipeline.quantize import fp32_model, int8_model
from fruits.pipeline.run import Featurized, Listed, Run
from fruits.pipeline.waves import RAW_ROW_GROUP_BYTES, raw_files_for, tasks_for, waves_for
from fruits.spark.portable import TaskProgress, default_parallelism

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def featurize_stage(r: Run, listed: Listed) -> Featurized:
    """Featurize every image of `listed.todo` that no finished wave of this run holds yet."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark, config = r.spark, r.config

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
    totals: dict = {}
    precision: dict = {"mode": config.precision}
    model_file: Optional[dict] = None  # no image to featurize: no model
    todo = listed.images - resumed_images
    waves = waves_for(todo, config.settings.wave_images)
    # From a pack, the rows carry their bytes; from a folder, the workers read each batch's files.
    source = packed_contents(spark, listed.pack, images) if listed.pack is not None else images
    if waves or config.precision == "int8":  # int8: the model is carried into every run, even one with nothing new
        spec, precision, model_file = _model_spec(r, source)
    if waves:
        featurize = make_featurize_function(spec, r.store, config.batch_size, config.settings.max_pixels)
        first = len(done)
        per_wave = math.ceil(todo / waves)
        tasks = tasks_for(per_wave, config.files_per_partition, default_parallelism(spark))
        files = raw_files_for(per_wave, config.feature_dim)
        log.info("featurizing %d images in %d wave(s) (batch %d, %d threads per task)", todo, waves,
                 config.batch_size, spec.threads)
        with r.timer("featurize"), TaskProgress(spark, "featurize") as progress, \
                report_progress(lambda: min(todo, progress.finished_tasks(tasks) * per_wave // tasks), todo,
                                every=config.settings.progress_seconds):
            for wave in range(waves):
                part = source.filter(F.pmod(F.xxhash64("path"), F.lit(waves)) == wave)
                uri = f"{r.run[RAW]}/wave-{first + wave:05d}"
                observed = worker_totals(f"featurize-wave-{first + wave}")
                # The featurize tasks stay small (progress, balance); a shuffle gathers their rows into few files.
                (part.repartition(tasks).mapInArrow(featurize, output_schema(FILE_SCHEMA))
                 .observe(observed, *worker_sums()).select(*RAW_COLUMNS).repartition(files)
                 .write.option("parquet.block.size", RAW_ROW_GROUP_BYTES).parquet(uri))
                add_wave(totals, observed.get)
                done.append(uri)
    images.unpersist()
    if r.prebuild is not None:  # started for a conversion that nothing needed (no image to featurize)
        r.prebuild.close()
        r.prebuild = None
    raw = (spark.read.schema(RAW_SCHEMA).parquet(*done) if done else
           spark.createDataFrame([], RAW_SCHEMA))
    if earlier:  # a lost attempt may have featurized files that have changed or gone since
        raw = raw.join(listed.todo.select(*FILE_KEY), FILE_KEY, "left_semi")
    read = raw.count()
    if read != listed.images:
        raise JobError(f"listed {listed.images} images but featurized {read}: the input changed during the run")
    return Featurized(raw=raw, worker=worker_dict(totals), precision=precision, waves=len(done), resumed_images=resumed_images,
                      model_file=model_file)


def _model_spec(r: Run, images: DataFrame) -> tuple[ModelSpec, dict, dict]:
    """The spec every worker builds its model from: a converted file run by the chosen runtime
    (int8 always; fp32 unless the runtime is tensorflow), else the Keras model. Also metrics.json's
    `precision` and `model_file` (the runtime, whether this run converted, the file's sha256)."""
    runtime = r.config.settings.model_runtime
    spec = dataclasses.replace(r.model_spec, runtime=runtime)
    if r.config.precision == "int8":
        name, report, about = int8_model(r, spec, images)
        return dataclasses.replace(spec, precision="int8", model_file=name), report, about
    if not converts_fp32(runtime):
        return spec, {"mode": "fp32"}, {"runtime": runtime, "converted": False, "sha256": None}
    name, about = fp32_model(r, spec)
    return dataclasses.replace(spec, model_file=name), {"mode": "fp32"}, about
