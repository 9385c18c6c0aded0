"""The `fruits` command line: every command, flag and default, taken from the configuration classes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from fruits import __version__
from fruits.config.catalog import CATALOG_KINDS, DEFAULT_NAMESPACE
from fruits.config.job_config import MODEL_DIMS, PRECISIONS, WEIGHT_NAMES, JobConfig, OutputFormat, PackConfig, SampleConfig


def spark_setting(text: str) -> tuple[str, str]:
    """One `--conf key=value`, as spark-submit takes it.

    >>> spark_setting("spark.executor.memory=4g"), spark_setting("spark.x.opts=-Da=b")
    (('spark.executor.memory', '4g'), ('spark.x.opts', '-Da=b'))
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value (for example spark.executor.memory=4g), got {text!r}")
    return key.strip(), value


def add_spark_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that starts Spark: the S3 endpoint and addressing, Spark settings
    passed as they are (over the job's own defaults), and --verbose (the quiet console is the default)."""
    parser.add_argument("--s3-endpoint", help="S3 endpoint URL (MinIO, VPC endpoint); env FRUITS_S3_ENDPOINT")
    parser.add_argument("--s3-path-style", action=argparse.BooleanOptionalAction, default=None,
                        help="path-style S3 URLs (MinIO needs them); env FRUITS_S3_PATH_STYLE")
    parser.add_argument("--verbose", action="store_true",
                        help="also show Spark's and TensorFlow's start-up lines, and the traceback of a failure")
    parser.add_argument("--conf", action="append", type=spark_setting, default=[], metavar="KEY=VALUE",
                        help="a Spark setting, as spark-submit's --conf (repeat it for several); it wins over the job's defaults")


def add_catalog_options(parser: argparse.ArgumentParser) -> None:
    """Where the output's tables are registered: every command that opens an output's tables."""
    parser.add_argument("--catalog", choices=CATALOG_KINDS, default=None,
                        help="the tables' catalog: sql (default), glue or rest; env FRUITS_CATALOG")
    parser.add_argument("--catalog-uri", metavar="URI",
                        help="sql: an SQLAlchemy URL (postgresql+psycopg2://USER@HOST/DB; default: SQLite beside a local "
                             "output's tables); rest: the endpoint; env FRUITS_CATALOG_URI")
    parser.add_argument("--catalog-namespace", metavar="NAME",
                        help=f"the namespace of the output's two tables, one per output (default {DEFAULT_NAMESPACE}); "
                             "env FRUITS_CATALOG_NAMESPACE")


def build_parser() -> argparse.ArgumentParser:
    """Every default and choice comes from JobConfig, SampleConfig and MODEL_DIMS, never restated here."""
    models = ", ".join(f"{name} ({dim} features)" for name, dim in MODEL_DIMS.items())
    pca_bounds = ", ".join(f"1-{dim} for {name}" for name, dim in MODEL_DIMS.items())
    parser = argparse.ArgumentParser(prog="fruits", description="Fruits-360 images -> ResNet50 features -> PCA, with Spark.")
    parser.add_argument("--version", action="version", version=f"fruits-pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="featurize a folder of images and write a feature table")
    run.add_argument("--input", required=True, help="image folder: path, file:// or s3a:// URI (<root>/<Split>/<Label>/<name>.jpg)")
    run.add_argument("--output", required=True, help="output folder: path, file:// or s3a:// URI")
    run.add_argument("--model", choices=tuple(MODEL_DIMS), default=JobConfig.model,
                     help=f"featurizer: {models}; default %(default)s (EfficientNet-Lite0's ImageNet weights ship with a pip package)")
    run.add_argument("--weights", default=JobConfig.weights,
                     help=f"{' or '.join(WEIGHT_NAMES)}, or a path/URI to a weights file (.h5/.keras; a .pth state dict for "
                          "EfficientNet-Lite0); default %(default)s")
    pca = run.add_mutually_exclusive_group()
    pca.add_argument("--pca-k", type=int, help=f"number of PCA components: {pca_bounds}")
    pca.add_argument("--pca-variance", type=float,
                     help=f"keep the fewest components that explain this share of variance (default {JobConfig.pca_variance})")
    run.add_argument("--precision", choices=PRECISIONS, default=JobConfig.precision,
                     help="fp32: the model as trained; int8: the model quantized per run, calibrated on 100 of its images, "
                          "faster, features close to fp32 (cosine in metrics.json); default %(default)s")
    run.add_argument("--batch-size", type=int, default=JobConfig.batch_size,
                     help="images per model call and per Arrow batch (default %(default)s)")
    run.add_argument("--master", help="Spark master (default local[*], or the one spark-submit gives)")
    run.add_argument("--remote", metavar="sc://HOST:PORT",
                     help="run on a Spark Connect server (the chart's `connect` server, port-forwarded); local[N] starts one here")
    run.add_argument("--limit", type=int, help="only the first N files, in path order")
    run.add_argument("--format", dest="output_format", choices=get_args(OutputFormat), default=JobConfig.output_format,
                     help="the tables are Iceberg (Parquet files); csv also exports the features to the run's folder, "
                          "vectors flattened into one column per value (default %(default)s)")
    run.add_argument("--files-per-partition", type=int, default=JobConfig.files_per_partition,
                     help="images per Spark task (default %(default)s)")
    run.add_argument("--seed", type=int, default=JobConfig.seed, help="seed of the random weights (default %(default)s)")
    run.add_argument("--keep-runs", type=int, default=JobConfig.keep_runs,
                     help="runs kept as snapshots of the tables, readable by run id; older ones expire (default %(default)s)")
    run.add_argument("--lock-wait", type=float, default=JobConfig.lock_wait, metavar="SECONDS",
                     help="if another run is writing the same output, wait up to this long for it (default: refuse at once)")
    run.add_argument("--deadline", type=float, default=0.0, metavar="SECONDS",
                     help="fail the run once it has taken this long: its Spark jobs are cancelled, nothing is committed, "
                          "the exit code is 124 (default: no deadline)")
    run.add_argument("--termination-log", type=Path, default=Path("/dev/termination-log"), metavar="PATH",
                     help="where a run past its deadline writes why, if the file exists (Kubernetes' termination message; "
                          "default %(default)s)")
    run.add_argument("--input-list", metavar="URI",
                     help="read the input's files from this list instead of listing --input: a text file (one path per line), "
                          "CSV or Parquet with a path column, or an S3 Inventory manifest.json")
    run.add_argument("--pack", metavar="URI",
                     help="first add the input's new images to this image pack (as `fruits pack --output URI`), then "
                          "featurize from the pack: later runs read one Parquet file per ~128 MB instead of one object per image")
    run.add_argument("--resume", metavar="RUN_ID|auto",
                     help="finish an unfinished run: reuse the raw features its finished waves wrote, featurize the rest; "
                          "'auto' picks the newest unfinished run with the same settings, or starts a new one")
    run.add_argument("--incremental", action="store_true",
                     help="reuse the current run's rows for unchanged files (same path, size, modification time)")
    run.add_argument("--reuse-model", action="store_true",
                     help="project with the current run's scaler + PCA instead of fitting them again")
    run.add_argument("--evaluate", action="store_true",
                     help="also fit a logistic regression on Training, score it on Test (see `fruits evaluate`)")
    add_catalog_options(run)
    add_spark_options(run)

    pack = sub.add_parser("pack", help="add a folder's images to an image pack: Parquet files of their bytes, "
                                       "which `fruits run --input PACK` reads instead of one file per image")
    pack.add_argument("--input", required=True, help="image folder: path, file:// or s3a:// URI")
    pack.add_argument("--output", required=True, help="the pack: a new or empty folder, or an earlier pack to add the new files to")
    pack.add_argument("--input-list", metavar="URI", help="read the input's files from this list (as `fruits run --input-list`)")
    pack.add_argument("--limit", type=int, help="only the first N files, in path order")
    pack.add_argument("--master", help="Spark master (default local[*], or the one spark-submit gives)")
    pack.add_argument("--files-per-partition", type=int, default=PackConfig.files_per_partition,
                      help="images read per Spark task (default %(default)s)")
    pack.add_argument("--lock-wait", type=float, default=PackConfig.lock_wait, metavar="SECONDS",
                      help="if another pack is writing the same pack, wait up to this long for it (default: refuse at once)")
    add_spark_options(pack)

    sample = sub.add_parser("sample", help="generate a synthetic Fruits-360-like data set")
    target = sample.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", type=Path, help="folder to create")
    target.add_argument("--out", dest="output", type=Path, help=argparse.SUPPRESS)  # the older name, kept working
    sample.add_argument("--set", dest="kind", choices=("shapes", "textures"), default=SampleConfig.kind,
                        help="shapes: classes differ in colour and outline; textures: one disc in shared colours, classes "
                             "differ only by surface, a test of whether features mean something (default %(default)s)")
    sample.add_argument("--classes", type=int, default=None,
                        help="number of classes (default: 10 of the 12 shapes, all 8 textures)")
    sample.add_argument("--per-class", type=int, default=SampleConfig.per_class,
                        help="images per class, 75%% Training / 25%% Test (default %(default)s)")
    sample.add_argument("--seed", type=int, default=SampleConfig.seed, help="seed (same seed, same bytes; default %(default)s)")

    report = sub.add_parser("report", help="print a run's metrics and redraw its PCA picture")
    report.add_argument("output", help="the --output of an earlier run")
    report.add_argument("--run", metavar="RUN_ID", help="an earlier run the tables still hold (default: the current one)")
    report.add_argument("--json", action="store_true",
                        help="print the run's snapshot as JSON (run id, table format and location, catalog, row counts); draw nothing")
    report.add_argument("--png", type=Path, help="write the picture here instead of into the run")
    add_catalog_options(report)
    add_spark_options(report)

    evaluate = sub.add_parser("evaluate", help="logistic regression on a run's features: accuracy and per-class recall")
    evaluate.add_argument("output", help="the --output of an earlier run")
    add_catalog_options(evaluate)
    add_spark_options(evaluate)

    migrate = sub.add_parser("migrate", help="convert an output of an earlier version (_CURRENT + runs/) into tables")
    migrate.add_argument("output", help="the output to convert, in place")
    add_catalog_options(migrate)
    add_spark_options(migrate)

    weights = sub.add_parser("weights", help="where the ImageNet weights are looked for; download them")
    weights.add_argument("action", choices=("where", "download", "demo"),
                         help="demo: print the --model and --weights `make run` uses, and on stderr why when it falls back")
    weights.add_argument("--model", choices=tuple(MODEL_DIMS), default=JobConfig.model)
    return parser
