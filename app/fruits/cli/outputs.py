"""`fruits report` and `fruits evaluate`: work on an existing output's current (or an earlier) run."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from fruits.config.catalog import CatalogSettings
from fruits.config.job_config import MODEL_DIMS, JobConfig, S3Settings
from fruits.config.layout import CONFUSION, FEATURES, METRICS, REJECTED
from fruits.config.settings import Settings
from fruits.config.uris import check_supported
from fruits.pipeline.summary import picture_points
from fruits.report.evaluate import evaluate_run, format_evaluation
from fruits.report.pictures import draw_run_pictures, pca_title, plot_pca_2d
from fruits.report.text import metrics_json, summarize
from fruits.spark.session import build_session, effective_s3
from fruits.table import iceberg
from fruits.table.lake import Lake


@dataclass(frozen=True)
class ExistingOutput:
    """An earlier run's output and how to open it."""

    uri: str
    s3: S3Settings
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    run_id: Optional[str] = None  # an earlier run the tables still hold; None: the current one
    verbose: bool = False
    spark_conf: tuple[tuple[str, str], ...] = ()
    settings: Settings = field(default_factory=Settings)


def open_lake(output: ExistingOutput, app_name: str):
    """The session and the output's lake (its catalog checked before Spark starts)."""
    check_supported(output.uri, "output")
    output.catalog.validate(output.uri)
    config = JobConfig(input_uri="", output_uri=output.uri, s3=output.s3, catalog=output.catalog, verbose=output.verbose,
                       spark_conf=output.spark_conf, settings=output.settings)
    spark = build_session(config, app_name=app_name)
    return spark, Lake(spark, output.uri, output.catalog, effective_s3(spark, output.s3))


def open_current(output: ExistingOutput, app_name: str):
    """The session, the lake, the run asked for (the current one by default) and its metrics."""
    spark, lake = open_lake(output, app_name)
    run = lake.run_of(output.run_id)
    return spark, lake, run, lake.read_metrics(run)


def snapshot_record(lake: Lake, run_id: str) -> dict:
    """`fruits report --json`: the run's snapshot in each table, the catalog, the row counts."""
    record: dict = {"run_id": run_id, "output": lake.output, "format": "iceberg",
                    "catalog": {"kind": lake.catalog_settings.kind, "address": lake.catalog_settings.describe(),
                                "namespace": lake.catalog_settings.namespace},
                    "current": getattr(lake.current_run(), "run_id", None) == run_id,
                    "runs": lake.committed_runs(), "tables": {}}
    for name in (FEATURES, REJECTED):
        table = lake.table(name)
        snapshot = iceberg.snapshot_of(table, run_id)
        record["tables"][name] = {"identifier": lake.identifier(name), "location": table.location(),
                                  "metadata": table.metadata_location, "snapshot_id": snapshot.snapshot_id,
                                  "committed_at_ms": snapshot.timestamp_ms,
                                  "rows": int(snapshot.summary.get("total-records", 0)) if snapshot.summary else None,
                                  "data_files": int(snapshot.summary.get("total-data-files", 0)) if snapshot.summary else None}
    rows = {name: table["rows"] for name, table in record["tables"].items()}
    record["rows"] = {"accepted": rows[FEATURES], "rejected": rows[REJECTED], "listed": rows[FEATURES] + rows[REJECTED]}
    return record


def evaluate_output(output: ExistingOutput) -> None:
    """Evaluate the current run; write confusion.png and the evaluation into its metrics.json."""
    spark, lake, run, metrics = open_current(output, "fruits-evaluate")
    table = lake.read(spark, FEATURES, run.run_id).cache()
    dim = MODEL_DIMS.get(metrics.get("model", "resnet50"), metrics.get("feature_dim", 2048))
    metrics["evaluation"] = evaluate_run(spark, lake.files, run, table, dim, metrics["settings"]["seed"])
    lake.files.replace(run[METRICS], metrics_json(metrics).encode("utf-8"), tag=run.run_id)
    print(format_evaluation(metrics["evaluation"]))
    print(f"confusion picture: {run[CONFUSION]}")


def report_output(output: ExistingOutput, png: Optional[Path], as_json: bool = False) -> None:
    spark, lake, run, metrics = open_current(output, "fruits-report")
    if as_json:
        print(json.dumps(snapshot_record(lake, run.run_id), indent=2))
        return
    print(summarize(metrics))
    table = lake.read(spark, FEATURES, run.run_id)
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


def migrate_output(output: ExistingOutput) -> list[str]:
    """`fruits migrate`: convert an output of the layout before the tables, under the output's lock."""
    from fruits.config.layout import new_run_id
    from fruits.table.lock import OutputLock, lock_store
    from fruits.table.migrate import migrate

    spark, lake = open_lake(output, "fruits-migrate")
    with OutputLock(lock_store(spark, lake.output, lake.s3), lake.output, new_run_id(),
                    lease_seconds=output.settings.lock_lease_seconds, pod_uid=output.settings.pod_uid):
        return migrate(lake)
