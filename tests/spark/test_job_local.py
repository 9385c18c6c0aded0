"""Tier 2: the job on local files with a real local Spark and random weights."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tablekit
from fruits.config.catalog import CatalogSettings
from fruits.config.settings import Settings
from fruits.pipeline.job import run_job
from fruits.sample import CLASSES
from fruits.table.lake import Lake
from helpers import bad_files
from sparkkit import REFERENCE_MODEL, REFERENCE_SEED, job_config, read_metrics, table_of

pytestmark = pytest.mark.spark


def local(uri: str) -> str:
    """Local path of a file:/ or file:/// URI."""
    return re.sub(r"^file:(//)?", "", uri)


def test_features_table_follows_the_contract(spark, reference_run):
    table = table_of(spark, reference_run)
    types = dict(table.dtypes)
    assert types == {"path": "string", "label": "string", "split": "string", "size": "bigint", "modified": "bigint",
                     "features": "array<float>", "pca": "array<double>"}
    k = reference_run.metrics["pca"]["k"]
    sizes = table.selectExpr("size(features) AS f", "size(pca) AS p").distinct().collect()
    assert [(r.f, r.p) for r in sizes] == [(2048, k)]


def test_accepted_plus_rejected_is_every_listed_file(spark, reference_run, small_sample):
    counts = reference_run.metrics["counts"]
    on_disk = sum(1 for p in small_sample.rglob("*") if p.is_file())
    assert counts["listed"] == on_disk
    assert counts["accepted"] + counts["rejected"] == on_disk
    assert counts["consistent"] is True
    assert table_of(spark, reference_run).count() == counts["accepted"]
    assert table_of(spark, reference_run, "rejected").count() == counts["rejected"]


def test_each_bad_file_is_rejected_with_its_reason_or_converted(spark, reference_run):
    rejected = {Path(r.path).name: r.reason for r in table_of(spark, reference_run, "rejected").collect()}
    accepted = {Path(r.path).name for r in table_of(spark, reference_run).select("path").collect()}
    for name, (_, reason) in bad_files().items():
        if reason is None:
            assert name in accepted, f"{name} should have been converted and accepted"
        else:
            assert reason in rejected.get(name, ""), f"{name}: expected '{reason}', got {rejected.get(name)!r}"


def test_labels_and_splits_are_kept_exactly(spark, reference_run):
    rows = table_of(spark, reference_run).select("label", "split").distinct().collect()
    assert {r.label for r in rows} == {c.name for c in CLASSES[:8]}
    assert {"Apple Red 2", "Pitahaya Red", "Pêche"} <= {r.label for r in rows}
    assert {r.split for r in rows} == {"Training", "Test"}
    paths = [r.path for r in table_of(spark, reference_run).select("path").collect()]
    assert all(p.startswith("file:/") for p in paths)


def test_pca_explained_variance_is_descending_and_reaches_the_target(reference_run):
    pca = reference_run.metrics["pca"]
    ratios = pca["explained_variance"]
    assert len(ratios) == pca["k"] >= 1
    assert all(a >= b - 1e-12 for a, b in pairwise(ratios))
    assert sum(ratios) <= 1.0 + 1e-9
    assert pca["cumulative_explained_variance"][-1] >= 0.9 - 1e-9
    if pca["k"] > 1:
        assert pca["cumulative_explained_variance"][-2] < 0.9


def test_model_is_built_once_per_python_worker_not_per_task(reference_run, spark):
    builds = reference_run.metrics["model_builds"]
    images = reference_run.metrics["counts"]["accepted"]
    tasks = -(-images // 8)  # files_per_partition=8: at least this many featurize tasks
    assert 1 <= builds <= spark.sparkContext.defaultParallelism < tasks
    assert reference_run.metrics["model_calls"] >= -(-images // 16)  # batch 16: every image went through a model


def test_metrics_and_picture_say_the_weights_are_random(reference_run):
    metrics = reference_run.metrics
    assert metrics["weights"]["kind"] == "random"
    assert metrics["versions"]["spark"] == "4.3.0"
    assert set(metrics["stage_seconds"]) == {"list", "featurize", "reduce", "write"}
    with Image.open(local(reference_run.run["pca_2d.png"])) as picture:
        assert picture.format == "PNG"


def test_the_run_draws_the_variance_curve_and_an_interactive_scatter_of_its_own_rows(spark, reference_run):
    pca = reference_run.metrics["pca"]
    assert len(pca["spectrum"]) > pca["k"] and pca["spectrum"][:pca["k"]] == pca["explained_variance"]
    with Image.open(local(reference_run.run["variance.png"])) as picture:
        assert picture.format == "PNG"
    html = Path(local(reference_run.run["pca_2d.html"])).read_text(encoding="utf-8")
    table = table_of(spark, reference_run).select("path").collect()
    start = html.index("[", html.rindex("Plotly.newPlot("))
    traces, _ = json.JSONDecoder().raw_decode(html[start:])
    hovered = {point[1] for trace in traces for point in trace["customdata"]}
    assert hovered == {r.path for r in table}, "the page's points are the table's rows (the sample takes all of a small run)"


def test_saved_model_projects_the_features_again(spark, reference_run):
    from pyspark.ml import PipelineModel

    from fruits.pipeline.pca import project

    table = table_of(spark, reference_run)
    again = project(PipelineModel.load(reference_run.run["model"]), table.drop("pca")).orderBy("path").collect()
    stored = table.orderBy("path").collect()
    assert np.allclose([r.pca for r in again], [r.pca for r in stored], atol=1e-6)


def test_rerun_gives_the_same_rows_and_keeps_the_previous_run(spark, small_sample, tmp_path):
    output = tmp_path / "out"
    sweep_now = Settings(sweep_min_age_hours=0)
    first = run_job(job_config(small_sample, output, pca_k=5, pca_variance=None, settings=sweep_now), spark)
    second = run_job(job_config(small_sample, output, pca_k=5, pca_variance=None, settings=sweep_now), spark)
    assert tablekit.current_run_id(output) == second.run.run_id
    a = table_of(spark, first).orderBy("path").collect()  # the first run, by its run id: time travel
    b = table_of(spark, second).orderBy("path").collect()
    assert [(r.path, r.label, r.split) for r in a] == [(r.path, r.label, r.split) for r in b]
    assert np.allclose([r.features for r in a], [r.features for r in b], atol=1e-4)
    assert sorted(p.name for p in (output / "runs").iterdir()) == sorted([first.run.run_id, second.run.run_id])
    first_files = tablekit.local_files(output, "features", first.run.run_id)
    third = run_job(job_config(small_sample, output, pca_k=5, pca_variance=None, settings=sweep_now), spark)
    assert sorted(p.name for p in (output / "runs").iterdir()) == [second.run.run_id, third.run.run_id]
    # The first run's snapshots expired (--keep-runs 2) and the sweep deleted its files; the others' stay.
    runs = [s.summary.get(tablekit.RUN_ID) for s in tablekit.table(output).snapshots()]
    assert runs == [second.run.run_id, third.run.run_id]
    assert first_files and not any(f.exists() for f in first_files)
    assert sorted(p.name for p in (output / "features" / "data").iterdir()) == [second.run.run_id, third.run.run_id]
    assert all(f.exists() for f in tablekit.local_files(output, "features", second.run.run_id))


def test_csv_output_flattens_vectors_into_columns(spark, small_sample, tmp_path):
    result = run_job(job_config(small_sample, tmp_path / "csv", pca_k=3, pca_variance=None, output_format="csv", limit=20), spark)
    table = spark.read.option("header", "true").csv(result.run["features.csv"])
    assert table_of(spark, result).count() == table.count(), "the table is there too, as for every run"
    assert table.columns[:3] == ["path", "label", "split"]
    last = result.metrics["feature_dim"] - 1
    assert "f_0" in table.columns and f"f_{last}" in table.columns and f"f_{last + 1}" not in table.columns
    assert [c for c in table.columns if c.startswith("pca_")] == ["pca_0", "pca_1", "pca_2"]
    assert result.metrics["counts"]["listed"] == 20


def test_limit_takes_the_first_files_in_path_order(spark, small_sample, tmp_path):
    result = run_job(job_config(small_sample, tmp_path / "lim", pca_k=2, pca_variance=None, limit=12), spark)
    paths = sorted(r.path for r in table_of(spark, result).select("path").collect())
    everything = sorted(p for p in small_sample.rglob("*.jpg"))
    assert result.metrics["counts"]["listed"] == 12
    assert len(paths) <= 12 and Path(local(paths[0])) == everything[0]


def test_weights_file_is_loaded_and_recorded(spark, small_sample, tmp_path, reference_run):
    """A .weights.h5 holding the seeded random weights gives the random run's features back."""
    from fruits.models.build import build_resnet50
    from fruits.models.spec import ModelSpec
    from fruits.models.weights import resolve_weights

    weights_file = tmp_path / "resnet50_seeded.weights.h5"
    build_resnet50(ModelSpec(weights=resolve_weights("random"), seed=REFERENCE_SEED)).save_weights(weights_file)
    result = run_job(job_config(small_sample, tmp_path / "w", model=REFERENCE_MODEL, weights=str(weights_file), pca_k=2, pca_variance=None, limit=10), spark)
    assert result.metrics["weights"]["kind"] == "file"
    assert len(result.metrics["weights"]["sha256"]) == 64
    mine = {r.path: r.features for r in table_of(spark, result).collect()}
    ref = {r.path: r.features for r in table_of(spark, reference_run).collect()}
    assert mine and all(np.allclose(mine[p], ref[p], atol=1e-4) for p in mine)


def test_report_prints_metrics_and_redraws_the_picture(reference_run, tmp_path, capsys, spark):
    from fruits.cli import main

    output = local(reference_run.run.output)
    assert main(["report", output, "--png", str(tmp_path / "again.png")]) == 0
    printed = capsys.readouterr().out
    assert reference_run.run.run_id in printed and "random weights" in printed
    assert (tmp_path / "again.png").stat().st_size > 10_000
    assert main(["report", output, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["run_id"] == reference_run.run.run_id and record["format"] == "iceberg" and record["current"]
    counts = reference_run.metrics["counts"]
    assert record["rows"] == {"accepted": counts["accepted"], "rejected": counts["rejected"], "listed": counts["listed"]}
    assert record["tables"]["features"]["identifier"] == "fruits.features"
    assert record["catalog"]["kind"] == "sql" and "SQLite" in record["catalog"]["address"]
    assert main(["report", output, "--run", "20200101T000000Z-000000", "--json"]) == 2
    assert "is not in table fruits.features" in capsys.readouterr().err


def test_report_on_a_folder_with_no_run_says_so_and_creates_nothing(spark, tmp_path, capsys):
    from fruits.cli import main

    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "holds no committed fruits run" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_foreign_output_folder_is_refused(spark, small_sample, tmp_path):
    from fruits.errors import ConfigError

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    with pytest.raises(ConfigError, match="not a fruits output"):
        run_job(job_config(small_sample, tmp_path / "mine"), spark)
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_one_image_is_refused_before_anything_is_written(spark, small_sample, tmp_path):
    from fruits.pipeline.job import JobError

    one = next(small_sample.rglob("*.jpg"))
    folder = tmp_path / "one" / "Training" / one.parent.name
    folder.mkdir(parents=True)
    (folder / one.name).write_bytes(one.read_bytes())
    with pytest.raises(JobError, match="PCA needs at least 2 decoded images, got 1"):
        run_job(job_config(tmp_path / "one", tmp_path / "out"), spark)
    assert tablekit.current_run_id(tmp_path / "out") is None


def test_a_run_whose_lock_was_taken_over_commits_nothing(spark, small_sample, tmp_path, monkeypatch):
    """Its lease ran out while it stalled and another run took the lock: the commit's fence stops it."""
    from fruits.config.layout import LOCK
    from fruits.table.lock import LockLost, LockRecord, OutputLock

    output, confirm = tmp_path / "out", OutputLock.confirm
    theirs = LockRecord(owner="elsewhere:7", run_id="20260101T000009Z-7a4e00", acquired=0.0, expires=9e9, instance="pod/theirs")

    def taken_over_then_confirm(lock):
        (output / LOCK).write_bytes(theirs.to_bytes())
        return confirm(lock)

    monkeypatch.setattr(OutputLock, "confirm", taken_over_then_confirm)
    with pytest.raises(LockLost, match="nothing was committed"):
        run_job(job_config(small_sample, output, pca_k=2, pca_variance=None, limit=10), spark)
    assert tablekit.current_run_id(output) is None
    assert json.loads((output / LOCK).read_text())["run_id"] == theirs.run_id, "the other run's lock was released"


def test_a_writer_that_committed_meanwhile_wins_and_the_run_exits_2(spark, small_sample, tmp_path, monkeypatch):
    """Another writer commits to the table after this run started (past the lock: a lost lease, a
    second tool): the format's commit refuses this run, which references nothing and names the winner."""
    from fruits.errors import ConfigError
    from fruits.table import iceberg
    from fruits.table.lock import OutputLock

    output, confirm = tmp_path / "out", OutputLock.confirm
    first = run_job(job_config(small_sample, output, pca_k=2, pca_variance=None, limit=10), spark)
    files = tablekit.files(output, "features")

    def someone_commits_then_confirm(lock):
        table = tablekit.table(output)
        iceberg.commit_run(table, "20990101T000000Z-0ther0", [], removed=files)  # the other writer's snapshot
        return confirm(lock)

    monkeypatch.setattr(OutputLock, "confirm", someone_commits_then_confirm)
    with pytest.raises(iceberg.ConcurrentCommit, match="run 20990101T000000Z-0ther0 committed") as refused:
        run_job(job_config(small_sample, output, pca_k=2, pca_variance=None, limit=10), spark)
    assert isinstance(refused.value, ConfigError), "exit 2, as for a held lock"
    assert tablekit.current_run_id(output) == "20990101T000000Z-0ther0"
    assert [s.summary.get(tablekit.RUN_ID) for s in tablekit.table(output, "rejected").snapshots()] == [first.run.run_id], \
        "neither table moved"


def test_lake_commit_refuses_an_incomplete_run(spark, tmp_path):
    from fruits.config.layout import RunLocation

    lake = Lake(spark, str(tmp_path / "o"), CatalogSettings())
    run = RunLocation(lake.output, "20260101T000000Z-aaaaaa")
    (tmp_path / "o" / "runs" / run.run_id / "model").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="incomplete"):
        lake.commit(run, run.run_id, {})
    assert tablekit.current_run_id(tmp_path / "o") is None
    assert json.dumps(lake.list_runs()) == json.dumps([run.run_id])


def test_metrics_file_matches_the_returned_metrics(reference_run):
    assert read_metrics(Path(local(reference_run.run.output))) == json.loads(json.dumps(reference_run.metrics))


def test_efficientnet_lite0_gives_1280_pretrained_features(spark, small_sample, tmp_path):
    result = run_job(job_config(small_sample, tmp_path / "lite", model="efficientnet-lite0", weights="imagenet",
                                pca_k=3, pca_variance=None, limit=24), spark)
    metrics = result.metrics
    assert (metrics["model"], metrics["feature_dim"], metrics["weights"]["kind"]) == ("efficientnet-lite0", 1280, "imagenet")
    sizes = table_of(spark, result).selectExpr("size(features) AS f", "size(pca) AS p").distinct().collect()
    assert [(r.f, r.p) for r in sizes] == [(1280, 3)]


@pytest.fixture(scope="module")
def texture_sample(tmp_path_factory) -> Path:
    """8 classes told apart only by surface, colours shared: 18 Training + 6 Test images each."""
    from fruits.sample import generate_sample

    root = tmp_path_factory.mktemp("textures")
    generate_sample(root, classes=8, per_class=24, seed=42, kind="textures")
    return root


def test_pretrained_features_classify_textures_far_above_chance_and_far_above_random(spark, texture_sample, tmp_path):
    lite = run_job(job_config(texture_sample, tmp_path / "lite", model="efficientnet-lite0", weights="imagenet",
                              pca_k=16, pca_variance=None, evaluate=True), spark)
    pretrained = lite.metrics["evaluation"]
    assert (pretrained["classes"], pretrained["evaluated_on"], pretrained["test_rows"]) == (8, "Test split", 48)
    assert set(pretrained["recall_per_class"]["pca"]) == set(pretrained["recall_per_class"]["raw"])
    assert set(pretrained["explained_variance_at"]) == {"2", "10", "50", "100"}
    assert Path(local(lite.run["confusion.png"])).stat().st_size > 5_000

    # The same network with random weights: only the ImageNet training differs.
    random = run_job(job_config(texture_sample, tmp_path / "random", model="efficientnet-lite0", weights="random",
                                pca_k=16, pca_variance=None, evaluate=True), spark).metrics["evaluation"]
    chance = 1 / 8
    accuracy = {"pretrained": pretrained["accuracy"], "random": random["accuracy"]}
    # Measured here: pretrained 1.00 raw / 0.96 PCA, random weights 0.35 raw / 0.27 PCA.
    assert pretrained["accuracy"]["raw"] >= 0.8 > 4 * chance, accuracy
    assert pretrained["accuracy"]["raw"] >= random["accuracy"]["raw"] + 0.3, accuracy
    assert pretrained["accuracy"]["pca"] >= random["accuracy"]["pca"] + 0.2, accuracy


def test_int8_features_stay_close_to_fp32_and_say_how_close(spark, small_sample, tmp_path, reference_run):
    int8 = run_job(job_config(small_sample, tmp_path / "int8", model=REFERENCE_MODEL, seed=REFERENCE_SEED, precision="int8"), spark)
    precision = int8.metrics["precision"]
    assert precision["mode"] == "int8" and reference_run.metrics["precision"] == {"mode": "fp32"}
    assert precision["calibration_images"] >= 1 and precision["check_images"] >= 1
    assert precision["cosine_to_fp32"]["min"] >= 0.95

    from fruits.models.quantize import cosine_similarity

    def features(run) -> dict:
        return {r.path: r.features for r in table_of(spark, run).select("path", "features").collect()}

    quantized, full = features(int8), features(reference_run)
    assert quantized.keys() == full.keys()
    paths = sorted(full)
    similarity = cosine_similarity(np.array([quantized[p] for p in paths]), np.array([full[p] for p in paths]))
    assert similarity.min() >= 0.95, similarity.min()
    assert not np.allclose([quantized[p] for p in paths], [full[p] for p in paths])  # really another model


def test_local_driver_runs_the_quick_jit_only(spark):
    """Local mode starts the driver JVM with C1 only: its C2 compiles competed with TensorFlow for the cores."""
    from fruits.config.settings import LOCAL_JIT_OPTIONS

    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert LOCAL_JIT_OPTIONS in list(runtime.getInputArguments())


def test_local_driver_logs_through_the_quiet_log4j_profile(spark):
    """Without --verbose the local JVM reads fruits' log4j2 profile: no start-up hints on the console."""
    from fruits.quiet import QUIET_LOG4J

    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert f"-Dlog4j2.configurationFile={QUIET_LOG4J.as_uri()}" in list(runtime.getInputArguments())
