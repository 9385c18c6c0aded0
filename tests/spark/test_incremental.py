"""--incremental: unchanged files cost nothing, new ones are featurized, deleted ones disappear."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import tablekit
from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.pipeline.job import run_job
from fruits.sample import CLASSES, render
from sparkkit import QUICK_INT8, job_config, table_of

pytestmark = pytest.mark.spark


@pytest.fixture()
def growing_input(small_sample, tmp_path):
    folder = tmp_path / "images"
    shutil.copytree(small_sample, folder)  # copy2 keeps modification times
    return folder


def rows(spark, result):
    return {r.path: r for r in table_of(spark, result).collect()}


def test_second_run_without_new_images_does_no_model_work(spark, growing_input, tmp_path):
    output = tmp_path / "out"
    first = run_job(job_config(growing_input, output, pca_k=3, pca_variance=None), spark)
    again = run_job(job_config(growing_input, output, pca_k=3, pca_variance=None, incremental=True), spark)
    assert again.metrics["model_calls"] == 0 and again.metrics["model_builds"] == 0
    inc = again.metrics["incremental"]
    assert (inc["new"], inc["removed"], inc["reused"]) == (0, 0, first.metrics["counts"]["listed"])
    assert inc["previous_run"] == first.run.run_id
    before, after = rows(spark, first), rows(spark, again)
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[p].features, after[p].features) for p in before)
    assert again.metrics["counts"]["consistent"]


def test_new_images_are_featurized_and_deleted_ones_disappear(spark, growing_input, tmp_path):
    output = tmp_path / "out"
    first = run_job(job_config(growing_input, output, pca_k=3, pca_variance=None), spark)
    gone = sorted((growing_input / "Test" / "Banana").glob("*.jpg"))[:2]
    for path in gone:
        path.unlink()
    fresh_dir = growing_input / "Training" / CLASSES[10].name
    fresh_dir.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        render(CLASSES[10], rng).save(fresh_dir / f"new_{i}.jpg", format="JPEG", quality=90)

    second = run_job(job_config(growing_input, output, pca_k=3, pca_variance=None, incremental=True), spark)
    inc = second.metrics["incremental"]
    assert (inc["new"], inc["removed"]) == (3, 2)
    assert second.metrics["model_calls"] >= 1
    after = rows(spark, second)
    assert not any(str(p) in path for p in gone for path in after)
    assert sum(1 for r in after.values() if r.label == CLASSES[10].name) == 3
    assert second.metrics["counts"]["listed"] == first.metrics["counts"]["listed"] + 1
    before = rows(spark, first)
    kept = set(before) & set(after)
    assert all(np.array_equal(before[p].features, after[p].features) for p in kept)


def test_reuse_model_projects_new_rows_with_the_stored_pca(spark, growing_input, tmp_path):
    output = tmp_path / "out"
    first = run_job(job_config(growing_input, output, pca_k=4, pca_variance=None), spark)
    again = run_job(job_config(growing_input, output, pca_k=4, pca_variance=None, incremental=True, reuse_model=True), spark)
    assert again.metrics["pca"]["explained_variance"] == first.metrics["pca"]["explained_variance"]
    before, after = rows(spark, first), rows(spark, again)
    assert all(np.allclose(before[p].pca, after[p].pca, atol=1e-9) for p in before)


def test_incremental_refuses_features_made_with_other_weights(spark, growing_input, tmp_path):
    output = tmp_path / "out"
    run_job(job_config(growing_input, output, pca_k=2, pca_variance=None, limit=10), spark)
    with pytest.raises(ConfigError, match="same model and weights"):
        run_job(job_config(growing_input, output, pca_k=2, pca_variance=None, limit=10, incremental=True, seed=7), spark)


def test_int8_incremental_runs_reuse_the_first_calibration(spark, growing_input, tmp_path):
    """int8 is calibrated once: later incremental runs featurize new images with the same int8 model."""
    output = tmp_path / "out"
    settings = dict(pca_k=3, pca_variance=None, **QUICK_INT8)
    first = run_job(job_config(growing_input, output, **settings), spark)
    assert "quantize" in first.metrics["stage_seconds"] and "reused_from" not in first.metrics["precision"]
    idle = run_job(job_config(growing_input, output, incremental=True, **settings), spark)
    assert idle.metrics["model_calls"] == 0 and idle.metrics["precision"]["reused_from"] == first.run.run_id
    new = growing_input / "Training" / CLASSES[10].name
    new.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        render(CLASSES[10], rng).save(new / f"new_{i}.jpg", format="JPEG", quality=90)
    grown = run_job(job_config(growing_input, output, incremental=True, **settings), spark)
    assert "quantize" not in grown.metrics["stage_seconds"]
    assert grown.metrics["precision"]["reused_from"] == first.run.run_id
    assert grown.metrics["precision"]["cosine_to_fp32"] == first.metrics["precision"]["cosine_to_fp32"]
    assert grown.metrics["incremental"]["new"] == 3 and grown.metrics["model_calls"] >= 1
    assert (output / "runs" / grown.run.run_id / "int8").is_dir()


def test_int8_incremental_refuses_an_fp32_lake(spark, growing_input, tmp_path):
    output = tmp_path / "out"
    run_job(job_config(growing_input, output, pca_k=3, pca_variance=None), spark)
    with pytest.raises(ConfigError, match="same precision"):
        run_job(job_config(growing_input, output, pca_k=3, pca_variance=None, precision="int8", incremental=True), spark)


def test_reuse_model_keeps_whole_files_and_rewrites_only_those_that_lost_rows(spark, growing_input, tmp_path):
    """--incremental --reuse-model is one snapshot: a features file whose rows all stay is the same
    file in the new snapshot, only files that lost a row leave it (their kept rows written again),
    and the previous snapshot expires (--keep-runs 1) without losing a file the new one holds."""
    output = tmp_path / "out"
    settings = Settings(wave_images=16, sweep_min_age_hours=0)  # one table file per wave of 16 images; sweep at once
    split = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "1m")
    try:
        first = run_job(job_config(growing_input, output, pca_k=4, pca_variance=None, settings=settings), spark)
        first_files = set(tablekit.files(output, "features", first.run.run_id))
        before = rows(spark, first)
        gone = sorted((growing_input / "Test" / "Banana").glob("*.jpg"))[:2]
        for path in gone:
            path.unlink()
        fresh = growing_input / "Training" / CLASSES[10].name
        fresh.mkdir()
        for i in range(3):
            render(CLASSES[10], np.random.default_rng(i)).save(fresh / f"new_{i}.jpg", format="JPEG", quality=90)
        second = run_job(job_config(growing_input, output, pca_k=4, pca_variance=None, incremental=True, reuse_model=True,
                                    keep_runs=1, settings=settings), spark)
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", split)
    inc = second.metrics["incremental"]
    assert len(first_files) >= 3
    assert 1 <= inc["carried_files"] <= len(first_files) - 1  # the Banana rows were in one or two files
    second_files = set(tablekit.files(output, "features", second.run.run_id))
    kept = first_files & second_files
    assert len(kept) == inc["carried_files"], "kept files are the previous run's files, not rewritten copies"
    assert all(f"/data/{second.run.run_id}/" in f for f in second_files - kept), "new files are this run's"
    assert [s.summary.get(tablekit.RUN_ID) for s in tablekit.table(output).snapshots()] == [second.run.run_id]
    assert not (output / "runs" / first.run.run_id).exists(), "--keep-runs 1 removed the previous run's folder"
    assert all((output / "features" / "data" / first.run.run_id / f.rsplit("/", 1)[1]).exists() for f in kept)
    assert not any(Path(f.removeprefix("file://")).exists() for f in first_files - kept), "the replaced files were swept"
    after = rows(spark, second)
    removed = {path for path in before if any(str(g) in path for g in gone)}
    assert len(removed) == 2 and not removed & set(after)
    assert set(after) - set(before) == {path for path in after if "/new_" in path} and len(after) == len(before) + 1
    assert len(after) == second.metrics["counts"]["accepted"]
    for path in set(before) & set(after):
        assert np.array_equal(before[path].features, after[path].features)
        assert np.allclose(before[path].pca, after[path].pca, atol=1e-9)
    assert spark.read.parquet(*sorted(kept)).count() == inc["carried_rows"]
