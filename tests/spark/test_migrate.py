"""`fruits migrate`: an output of the layout before the tables (`_CURRENT` naming run folders with
their own Parquet tables) is refused by a run with the command that converts it, and converted in
place: each complete run a snapshot, found again by its run id; later runs go on from it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablekit
from fruits.config.catalog import CatalogSettings
from fruits.errors import ConfigError
from fruits.pipeline.job import run_job
from fruits.table.lake import Lake
from fruits.table.migrate import migrate
from sparkkit import job_config

pytestmark = pytest.mark.spark

OLD_RUNS = ("20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb")


def legacy_output(output: Path, current: str) -> None:
    """Two runs as the earlier layout wrote them, the second current."""
    for number, run_id in enumerate(OLD_RUNS):
        run = output / "runs" / run_id
        paths = [f"file:/data/Training/Kiwi/{number}-{i}.jpg" for i in range(3)]
        features = pa.table({"path": paths, "label": ["Kiwi"] * 3, "split": ["Training"] * 3, "size": [10, 11, 12],
                             "modified": [1, 2, 3], "features": [[float(i), 1.0] for i in range(3)],
                             "pca": [[0.5 * i] for i in range(3)]})
        rejected = pa.table({"path": [f"file:/data/Training/Kiwi/{number}.txt"], "size": [4], "modified": [5],
                             "reason": ["not an image file (.txt)"]})
        for name, table in (("features", features), ("rejected", rejected)):
            (run / name).mkdir(parents=True)
            pq.write_table(table, run / name / "part-00000.snappy.parquet")
            (run / name / "_SUCCESS").write_text("")
        (run / "metrics.json").write_text(json.dumps({"run_id": run_id, "format": "parquet", "model": "resnet50",
                                                       "weights": {"kind": "random"}, "pca": {"k": 1, "explained_variance": [0.7]}}))
        (run / "_FRUITS_RUN").write_text(json.dumps({"run_id": run_id}))
    (output / "_CURRENT").write_text(current + "\n")


def test_an_old_output_is_refused_then_migrated_and_runs_go_on(spark, small_sample, tmp_path):
    output = tmp_path / "old"
    legacy_output(output, OLD_RUNS[1])
    with pytest.raises(ConfigError, match=f"fruits migrate file://{output}"):
        run_job(job_config(small_sample, output, pca_k=2, pca_variance=None, limit=12), spark)

    lake = Lake(spark, str(output), CatalogSettings())
    assert migrate(lake) == list(OLD_RUNS)
    assert not (output / "_CURRENT").exists()
    assert tablekit.current_run_id(output) == OLD_RUNS[1]
    first = tablekit.rows(output, "features", ["path"], OLD_RUNS[0]).column("path").to_pylist()
    assert first == [f"file:/data/Training/Kiwi/0-{i}.jpg" for i in range(3)], "the older run, by its run id"
    assert tablekit.rows(output, "rejected", ["reason"]).column("reason").to_pylist() == ["not an image file (.txt)"]
    assert all("/data/" in f for f in tablekit.files(output)), "the tables own the moved files"
    assert not (output / "runs" / OLD_RUNS[1] / "features").exists()
    assert migrate(Lake(spark, str(output), CatalogSettings())) == [], "a second migration has nothing to do"

    result = run_job(job_config(small_sample, output, pca_k=2, pca_variance=None, limit=12), spark)
    assert tablekit.current_run_id(output) == result.run.run_id
    assert tablekit.rows(output, "features", ["path"], OLD_RUNS[1]).num_rows == 3, "the migrated run stays readable"
