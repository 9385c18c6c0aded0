"""`fruits report` and `fruits evaluate`: work on an existing output's current run."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from fruits.config.job_config import MODEL_DIMS, JobConfig, S3Settings
from fruits.config.layout import CONFUSION, FEATURES, METRICS
from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.pipeline.summary import picture_points
from fruits.report.evaluate import evaluate_run, format_evaluation
from fruits.report.pictures import draw_run_pictures, pca_title, plot_pca_2d
from fruits.report.text import metrics_json, summarize
from fruits.spark.session import build_session
from fruits.table.lake import Lake


@dataclass(frozen=True)
class ExistingOutput:
    """An earlier run's output and how to open it."""

    uri: str
    s3: S3Settings
    verbose: bool = False
    spark_conf: tuple[tuple[str, str], ...] = ()
    settings: Settings = field(default_factory=Settings)


def open_current(output: ExistingOutput, app_name: str):
    config = JobConfig(input_uri="", output_uri=output.uri, s3=output.s3, verbose=output.verbose,
                       spark_conf=output.spark_conf, settings=output.settings)
    spark = build_session(config, app_name=app_name)
    lake = Lake(spark, output.uri)
    run = lake.require_current_run()
    return spark, lake, run, lake.read_metrics(run)


def evaluate_output(output: ExistingOutput) -> None:
    """Evaluate the current run; write confusion.png and the evaluation into its metrics.json."""
    spark, lake, run, metrics = open_current(output, "fruits-evaluate")
    if metrics["format"] != "parquet":
        raise ConfigError("fruits evaluate needs a Parquet output")
    table = spark.read.parquet(run[FEATURES]).cache()
    dim = MODEL_DIMS.get(metrics.get("model", "resnet50"), metrics.get("feature_dim", 2048))
    metrics["evaluation"] = evaluate_run(spark, lake.files, run, table, dim, metrics["settings"]["seed"])
    lake.files.replace(run[METRICS], metrics_json(metrics).encode("utf-8"), tag=run.run_id)
    print(format_evaluation(metrics["evaluation"]))
    print(f"confusion picture: {run[CONFUSION]}")


def report_output(output: ExistingOutput, png: Optional[Path]) -> None:
    from pyspark.sql import functions as F

    spark, lake, run, metrics = open_current(output, "fruits-report")
    print(summarize(metrics))
    if metrics["format"] == "csv":
        table = spark.read.option("header", "true").option("inferSchema", "true").csv(run[FEATURES])
        first = ["pca_0", "pca_1"] if "pca_1" in table.columns else ["pca_0"]
        table = table.select("label", F.array(*first).alias("pca"))
    else:
        table = spark.read.parquet(run[FEATURES])
    points, labels, paths = picture_points(table, metrics["settings"]["seed"])
    pca = metrics["pca"]
    title = pca_title(metrics["weights"]["kind"], pca["explained_variance"], metrics.get("model", "resnet50"))
    sizes = metrics.get("counts", {}).get("by_label")
    if png is not None:
        plot_pca_2d(points, labels, title, png, sizes=sizes)
        print(f"picture: {png}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        drawn = draw_run_pictures(Path(tmp), points, labels, paths, title, pca.get("spectrum") or pca["explained_variance"],
                                  pca["k"], pca.get("target_variance"), sizes=sizes)
        for name, local in drawn.items():
            lake.files.upload(local, run[name])
            print(f"picture: {run[name]}")
