"""`fruits report`: read an existing output's current run, print its metrics, redraw its picture."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from fruits.config import JobConfig, S3Settings
from fruits.lake import Lake
from fruits.report import pca_title, plot_pca_2d, summarize


def report_output(output: str, png: Optional[Path], s3: S3Settings) -> None:
    from pyspark.sql import functions as F

    from fruits.session import build_session

    config = JobConfig(input_uri="", output_uri=output, s3=s3)
    spark = build_session(config, app_name="fruits-report")
    lake = Lake(spark, output)
    run = lake.require_current_run()
    metrics = lake.read_metrics(run)
    print(summarize(metrics))
    if metrics["format"] == "csv":
        table = spark.read.option("header", "true").option("inferSchema", "true").csv(run["features"])
        first = ["pca_0", "pca_1"] if "pca_1" in table.columns else ["pca_0"]
        rows = table.select("label", F.array(*first).alias("pca")).collect()
    else:
        rows = spark.read.parquet(run["features"]).select("label", F.slice("pca", 1, 2).alias("pca")).collect()
    title = pca_title(metrics["weights"]["kind"], metrics["pca"]["explained_variance"], metrics.get("model", "resnet50"))
    if png is not None:
        plot_pca_2d([r.pca for r in rows], [r.label for r in rows], title, png)
        print(f"picture: {png}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        drawn = plot_pca_2d([r.pca for r in rows], [r.label for r in rows], title, Path(tmp) / "pca_2d.png")
        lake.upload(drawn, run["pca_2d.png"])
    print(f"picture: {run['pca_2d.png']}")
