"""A Spark Connect client of fruits.api, run in its own process by test_connect.py.

pyspark keeps one kind of session per process (its functions follow a process-wide switch), so the
client runs apart from the tests' local Sparks. Usage: api_client.py URL SAMPLE OUTPUT RESULT.json;
writes what the test compares with the classic run.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

import fruits.api as api
from fruits.errors import ConfigError

MODEL = dict(model="efficientnet-lite0", weights="random")


def refusal(call) -> str:
    try:
        call()
    except ConfigError as exc:
        return str(exc)
    return "accepted"


def main(url: str, sample: str, output: str, result: str) -> None:
    spark = SparkSession.builder.remote(url).getOrCreate()
    images = api.list_images(spark, sample)
    features = api.featurize(images, batch_size=16, images_per_task=8, **MODEL).cache()
    rows = features.collect()
    model = api.fit_pca(features, k=3)
    projected = {r.path: r.pca for r in api.project(model, features.filter("reason is null")).collect()}
    chosen = api.fit_pca(features, variance=0.5).stages[-1]
    frame = spark.createDataFrame([("a",)], "name string")
    numbers = spark.createDataFrame([([1.0, 2.0],), ([2.0, 0.5],)], "features array<float>")
    out = {
        "session": type(spark).__module__,
        "columns": images.columns,
        "rows": [{"path": r.path, "label": r.label, "split": r.split, "size": r.size, "modified": r.modified,
                  "reason": r.reason, "features": r.features} for r in rows],
        "explained_variance": model.stages[-1].explainedVariance.toArray().tolist(),
        "pca": projected,
        "variance_k": chosen.getK(),
        "variance_ratios": chosen.explainedVariance.toArray().tolist(),
        "table_paths": sorted(r.path for r in api.read_table(spark, output).select("path").collect()),
        "refusals": {
            "no path": refusal(lambda: api.featurize(frame, **MODEL)),
            "model": refusal(lambda: api.featurize(frame.withColumnRenamed("name", "path"), model="vgg", weights="random")),
            "k and variance": refusal(lambda: api.fit_pca(numbers, k=1, variance=0.5)),
            "k too large": refusal(lambda: api.fit_pca(numbers, k=3)),
        },
    }
    with open(result, "w") as file:
        json.dump(out, file)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
