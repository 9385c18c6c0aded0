"""The featurizer as a library: the job's stages as DataFrame functions, for notebooks and services.

    spark = SparkSession.builder.getOrCreate()          # or .remote("sc://host:15002")
    images = list_images(spark, "data/sample")           # path, label, split, size, modified, reason
    features = featurize(images, model="efficientnet-lite0", weights="imagenet")
    model = fit_pca(features, variance=0.9)               # a Spark ML PipelineModel
    points = project(model, features)                     # adds pca
    table = read_table(spark, "out")                      # what `fruits run` committed

Each function works on a classic SparkSession and on a Spark Connect one alike, and is the code
`fruits run` runs (fruits.inputs.listing, fruits.pipeline.featurizer, fruits.pipeline.pca,
fruits.table.lake): the same rows and the same features. Per-image data stays in DataFrames.
Settings that are not arguments come from the environment (FRUITS_*), read once per call.
docs/api.md has the reference and an example.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from fruits.config.catalog import CatalogSettings
from fruits.config.job_config import MODEL_DIMS, PRECISIONS, JobConfig, S3Settings, check_weights
from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.inputs.listing import list_files, with_labels, with_skip_reason
from fruits.models.runtime import converts_fp32
from fruits.models.spec import ModelSpec
from fruits.models.weights import resolve_weights
from fruits.pipeline.featurizer import STAT_COLUMNS, make_featurize_function, output_schema
from fruits.pipeline.pca import fit_reduce
from fruits.pipeline.pca import project as project_with
from fruits.pipeline.quantize import converted_fp32_spec, quantize_for_run, ship_model
from fruits.spark.portable import conf_value, is_connect, ship_file, task_cpus
from fruits.spark.session import effective_s3
from fruits.storage.reads import StoreSpec
from fruits.table.lake import Lake

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["featurize", "fit_pca", "list_images", "project", "read_table"]

IMAGE_COLUMNS = ("path", "label", "split", "size", "modified", "reason")


def list_images(spark: SparkSession, input: str, *, input_list: Optional[str] = None,
                s3: Optional[S3Settings] = None, settings: Optional[Settings] = None) -> DataFrame:
    """Every entry under `input` (a folder, file: or s3:// URI, or an image pack), or named by `input_list`.

    Columns: path, label (parent folder), split (Training/Test or null), size, modified (ms), and
    `reason` when the job would not read the entry (not an image, empty, too large, hidden...;
    null for images). The listing is done by the workers and kept (persisted) for reuse.
    Raises ConfigError when the input does not exist or names no file.
    """
    settings = settings or Settings.from_env()
    s3 = effective_s3(spark, s3 or S3Settings.from_settings(settings))
    listing = list_files(spark, input, s3, None, input_list)
    return with_labels(with_skip_reason(listing.files, settings.max_file_bytes)).select(*IMAGE_COLUMNS)


def featurize(df: DataFrame, *, model: str = "resnet50", weights: str = "imagenet", precision: str = "fp32",
              batch_size: int = JobConfig.batch_size, images_per_task: int = JobConfig.files_per_partition,
              seed: int = JobConfig.seed, s3: Optional[S3Settings] = None, settings: Optional[Settings] = None) -> DataFrame:
    """`df` with `features` (array<float>: 2048 for resnet50, 1280 for efficientnet-lite0) and `reason`.

    `df` needs a `path` column (file: or s3:// URIs, as `list_images` gives; `size` bounds each read
    when present) or the images' bytes in `content`. Rows whose `reason` is already set are passed
    through unread. An image that cannot be read or decoded gets its reason and null features;
    the others keep their columns as they are. Each worker builds the model once and reuses it
    (like `predict_batch_udf`), reading the files of a batch many at a time.
    `weights`: imagenet, random (seeded by `seed`) or a weights file; `precision` int8 quantizes
    the model once on this machine, calibrated on a sample of `df`'s images.
    Counts `df` once, to give the work `images_per_task` images per task.
    """
    from pyspark.sql import functions as F

    settings = settings or Settings.from_env()
    if model not in MODEL_DIMS:
        raise ConfigError(f"unknown model {model!r}: use {' or '.join(MODEL_DIMS)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be {' or '.join(PRECISIONS)}, got {precision!r}")
    if batch_size < 1 or images_per_task < 1:
        raise ConfigError(f"batch_size and images_per_task must be at least 1, got {batch_size} and {images_per_task}")
    if "path" not in df.columns and "content" not in df.columns:
        raise ConfigError(f"featurize needs a 'path' or a 'content' (bytes) column; the DataFrame has {', '.join(df.columns)}")
    for name in ("features", "error"):
        if name in df.columns:
            raise ConfigError(f"the DataFrame has a {name!r} column already; drop or rename it first")
    spark = df.sparkSession
    check_weights(weights)
    resolved = resolve_weights(weights, model, settings)
    store_s3 = effective_s3(spark, s3 or S3Settings.from_settings(settings))
    shipped = ship_file(spark, resolved.uri, store_s3) if resolved.uri and (resolved.kind == "file" or is_connect(spark)) else None
    spec = ModelSpec(weights=resolved, model=model, seed=seed, threads=task_cpus(spark), shipped_file=shipped,
                     runtime=settings.model_runtime)

    has_reason = "reason" in df.columns
    todo = df.filter(F.col("reason").isNull()).drop("reason") if has_reason else df
    if "size" not in todo.columns and "content" not in todo.columns:
        todo = todo.withColumn("size", F.lit(None).cast("bigint"))
    # Each row's path picks its store (fruits.storage.reads): a DataFrame may mix local files and S3.
    store = StoreSpec(s3=store_s3, max_file_bytes=settings.max_file_bytes)
    if precision == "int8":
        spec = _int8_spec(spec, todo, store, settings)
    elif converts_fp32(spec.runtime):  # the job's runtime: the same features as the job's
        spec = converted_fp32_spec(spark, spec)
    images = todo.count()
    todo = todo.repartition(max(1, math.ceil(images / images_per_task)))
    function = make_featurize_function(spec, store, batch_size, settings.max_pixels, keep=None)
    kept = [column for column in todo.columns if column != "content" or "path" not in todo.columns]
    out = (todo.mapInArrow(function, output_schema(todo.schema)).drop(*STAT_COLUMNS)
           .select(*kept, "features", F.col("error").alias("reason")))
    if has_reason:
        skipped = df.filter(F.col("reason").isNotNull())
        out = out.unionByName(skipped.withColumn("features", F.lit(None).cast("array<float>")), allowMissingColumns=True)
    return out


def _int8_spec(spec: ModelSpec, images: DataFrame, store: StoreSpec, settings: Settings) -> ModelSpec:
    """The spec of the int8 model quantized here, calibrated on a seeded sample of `images`, shipped to the workers."""
    import dataclasses

    folder = Path(tempfile.mkdtemp(prefix="fruits-int8-"))
    destination = folder / f"{spec.model}-int8.tflite"
    quantize_for_run(spec, images, store, destination, max_pixels=settings.max_pixels)
    return dataclasses.replace(spec, precision="int8", model_file=ship_model(images.sparkSession, spec, destination, "int8"))


def fit_pca(df: DataFrame, *, k: Optional[int] = None, variance: Optional[float] = None,
            path: Optional[str] = None) -> PipelineModel:
    """StandardScaler -> PCA fitted on `df.features` in one pass, as a Spark ML PipelineModel.

    Give `k` components, or the `variance` share they must explain (default: 0.90, as `fruits run`);
    the chosen k and the explained variance are the model's last stage's `getK()` and
    `explainedVariance`. The model is saved in `path` (a folder the Spark session can write: on a
    cluster, an s3:// URI) and loaded from there; with a local master, a temporary folder by default.
    `project(model, df)` adds the `pca` column. Raises ValueError when fewer than 2 rows have
    features or when they do not vary.
    """
    from pyspark.sql import functions as F

    if k is not None and variance is not None:
        raise ConfigError("give k or variance, not both")
    variance = JobConfig.pca_variance if k is None and variance is None else variance
    if variance is not None and not 0.0 < variance <= 1.0:
        raise ConfigError(f"variance must be in (0, 1], got {variance}")
    spark = df.sparkSession
    rows = df.filter(F.col("features").isNotNull())
    first = rows.select(F.size("features").alias("dim")).first()
    if first is None:
        raise ValueError("no row has features: nothing to fit")
    dim = int(first.dim)
    if k is not None and not 1 <= k <= dim:
        raise ConfigError(f"k must be between 1 and {dim} (the feature size), got {k}")
    model, _ = fit_reduce(rows, dim, k, variance, path or _scratch_folder(spark))
    return model


def _scratch_folder(spark: SparkSession) -> str:
    """A new local folder for a model, where the session's Spark shares this machine's disk."""
    master = conf_value(spark, "spark.master", "") or ""
    if not master.startswith("local"):
        raise ConfigError(f"fit_pca on a cluster (master {master}) needs path=: a folder every node can write, e.g. s3://bucket/models/x")
    return Path(tempfile.mkdtemp(prefix="fruits-pca-")).as_uri()


def project(model: PipelineModel, df: DataFrame) -> DataFrame:
    """`df` with `pca` (array<double>, k): its `features` standardised and projected by `model`;
    null for rows without features (images that could not be read)."""
    from pyspark.sql import functions as F

    has = F.col("features").isNotNull()
    missing = df.filter(~has).withColumn("pca", F.lit(None).cast("array<double>"))
    return project_with(model, df.filter(has)).unionByName(missing)


def read_table(spark: SparkSession, output: str, *, run: Optional[str] = None, table: str = "features",
               catalog: Optional[CatalogSettings] = None, s3: Optional[S3Settings] = None,
               settings: Optional[Settings] = None) -> DataFrame:
    """A table `fruits run` committed in `output` (`features` or `rejected`), at run `run`'s snapshot
    (None: the current one), read from the snapshot's own list of data files.

    `catalog`: where the tables are registered (default: FRUITS_CATALOG*, else the SQLite file beside
    a local output). Raises ConfigError when the output has no such table or run.
    """
    settings = settings or Settings.from_env()
    catalog = catalog or CatalogSettings.from_settings(settings)
    lake = Lake(spark, output, catalog, effective_s3(spark, s3 or S3Settings.from_settings(settings)))
    return lake.read(spark, table, run)
