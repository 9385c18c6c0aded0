"""`fruits report` and `fruits evaluate`: work on an existing output's current run."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from fruits.config import MODEL_DIMS, ConfigError, JobConfig, S3Settings
from fruits.lake import Lake
from fruits.report import pca_title, plot_pca_2d, summarize, write_json
from fruits.schema import CONFUSION, FEATURES, METRICS, PICTURE
from fruits.summary import picture_points


def open_current(output: str, s3: S3Settings, app_name: str, verbose: bool = False):
    from fruits.session import build_session

    spark = build_session(JobConfig(input_uri="", output_uri=output, s3=s3, verbose=verbose), app_name=app_name)
    lake = Lake(spark, output)
    run = lake.require_current_run()
    return spark, lake, run, lake.read_metrics(run)


def evaluate_output(output: str, s3: S3Settings, verbose: bool = False) -> None:
    """Evaluate the current run; write confusion.png and the evaluation into its metrics.json."""
    from fruits.evaluate import evaluate_run, format_evaluation

    spark, lake, run, metrics = open_current(output, s3, "fruits-evaluate", verbose)
    if metrics["format"] != "parquet":
        raise ConfigError("fruits evaluate needs a Parquet output")
    table = spark.read.parquet(run[FEATURES]).cache()
    dim = MODEL_DIMS.get(metrics.get("model", "resnet50"), metrics.get("feature_dim", 2048))
    metrics["evaluation"] = evaluate_run(spark, lake, run, table, dim, metrics["settings"]["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        lake.replace_file(write_json(metrics, Path(tmp) / METRICS), run[METRICS])
    print(format_evaluation(metrics["evaluation"]))
    print(f"confusion picture: {run[CONFUSION]}")


def report_output(output: str, png: Optional[Path], s3: S3Settings, verbose: bool = False) -> None:
    from pyspark.sql import functions as F

    spark, lake, run, metrics = open_current(output, s3, "fruits-report", verbose)
    print(summarize(metrics))
    if metrics["format"] == "csv":
        table = spark.read.option("header", "true").option("inferSchema", "true").csv(run[FEATURES])
        first = ["pca_0", "pca_1"] if "pca_1" in table.columns else ["pca_0"]
        table = table.select("label", F.array(*first).alias("pca"))
    else:
        table = spark.read.parquet(run[FEATURES])
    points, labels = picture_points(table, metrics["settings"]["seed"])
    title = pca_title(metrics["weights"]["kind"], metrics["pca"]["explained_variance"], metrics.get("model", "resnet50"))
    if png is not None:
        plot_pca_2d(points, labels, title, png)
        print(f"picture: {png}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        drawn = plot_pca_2d(points, labels, title, Path(tmp) / PICTURE)
        lake.upload(drawn, run[PICTURE])
    print(f"picture: {run[PICTURE]}")
