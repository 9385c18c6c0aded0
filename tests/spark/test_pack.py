"""`fruits pack` and runs over an image pack: the same table as a run over the folder, only new files added."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import tablekit
from fruits.config.job_config import PackConfig
from fruits.config.layout import PACK_MANIFEST
from fruits.errors import ConfigError, JobError
from fruits.pipeline.job import run_job
from fruits.pipeline.pack import _make_reader, run_pack
from fruits.sample import CLASSES, render
from fruits.storage.local import local_uri
from fruits.storage.reads import StoreSpec
from sparkkit import QUICK_INT8, REFERENCE_MODEL, REFERENCE_SEED, job_config, table_of

pytestmark = pytest.mark.spark


def pack(spark, source, target, **overrides):
    settings = dict(files_per_partition=8, **overrides)
    return run_pack(PackConfig(input_uri=str(source), output_uri=str(target), **settings).validate(), spark)


def features(spark, result):
    return {r.path: np.asarray(r.features) for r in table_of(spark, result).collect()}


def rejected(spark, result):
    return {(r.path, r.reason) for r in table_of(spark, result, "rejected").collect()}


@pytest.fixture()
def images(small_sample, tmp_path):
    folder = tmp_path / "images"
    shutil.copytree(small_sample, folder)  # copy2 keeps modification times
    return folder


def test_a_run_over_the_pack_writes_the_table_a_run_over_the_folder_writes(spark, small_sample, tmp_path, reference_run):
    packed = pack(spark, small_sample, tmp_path / "pack")
    listed = reference_run.metrics["counts"]["listed"]
    assert packed.generation.rows == listed and packed.unread == 0
    assert packed.generation.images == reference_run.metrics["counts"]["images"]
    over_pack = run_job(job_config(tmp_path / "pack", tmp_path / "out", model=REFERENCE_MODEL, seed=REFERENCE_SEED), spark)
    assert over_pack.metrics["counts"] == reference_run.metrics["counts"]
    assert over_pack.metrics["input_pack"] == {"generations": [packed.generation.name], "rows": listed}
    assert reference_run.metrics["input_pack"] is None
    ours, theirs = features(spark, over_pack), features(spark, reference_run)
    assert ours.keys() == theirs.keys()  # the images' own paths, not the pack's
    assert all(np.allclose(ours[p], theirs[p], atol=1e-5) for p in ours)
    assert rejected(spark, over_pack) == rejected(spark, reference_run)


def test_a_second_pack_adds_new_and_changed_files_only(spark, images, tmp_path):
    first = pack(spark, images, tmp_path / "pack")
    assert pack(spark, images, tmp_path / "pack").generation is None  # nothing new: no generation
    (images / "Training" / CLASSES[10].name).mkdir()
    render(CLASSES[10], np.random.default_rng(3)).save(images / "Training" / CLASSES[10].name / "new.jpg", format="JPEG")
    changed = sorted((images / "Test" / "Banana").glob("*.jpg"))[0]
    render(CLASSES[3], np.random.default_rng(5)).save(changed, format="JPEG")
    os.utime(changed, (1e9, 1e9))
    second = pack(spark, images, tmp_path / "pack")
    assert (second.generation.rows, second.generation.supersedes) == (2, 1)
    assert second.manifest.rows == first.manifest.rows + 1
    over_pack = run_job(job_config(tmp_path / "pack", tmp_path / "out", pca_k=3, pca_variance=None), spark)
    over_folder = run_job(job_config(images, tmp_path / "direct", pca_k=3, pca_variance=None), spark)
    assert over_pack.metrics["counts"]["listed"] == over_folder.metrics["counts"]["listed"] == second.manifest.rows
    ours, theirs = features(spark, over_pack), features(spark, over_folder)
    key = local_uri(os.fsencode(changed.resolve()))
    assert key in ours and np.allclose(ours[key], theirs[key], atol=1e-5)  # the new bytes, not the old


def test_an_unfinished_pack_is_invisible_and_cleared_by_the_next(spark, images, tmp_path):
    target = tmp_path / "pack"
    pack(spark, images, target)
    manifest = (target / PACK_MANIFEST).read_text()
    stray = target / "gen-20990101T000000Z-abcdef"
    stray.mkdir()
    (stray / "part-0.parquet").write_bytes(b"half a file")
    (target / "._PACK.4242.tmp").write_text("{")
    run = run_job(job_config(target, tmp_path / "out", pca_k=3, pca_variance=None), spark)
    assert run.metrics["counts"]["listed"] == json.loads(manifest)["generations"][0]["rows"]
    pack(spark, images, target)
    assert not stray.exists() and not (target / "._PACK.4242.tmp").exists()
    assert (target / PACK_MANIFEST).read_text() == manifest


def test_a_damaged_pack_stops_the_run_before_it_writes(spark, images, tmp_path):
    target = tmp_path / "pack"
    pack(spark, images, target)
    generation = next(target.glob("gen-*"))
    part = sorted(generation.glob("part-*.parquet"))[0]
    part.unlink()
    with pytest.raises(JobError, match="manifest promises"):
        run_job(job_config(target, tmp_path / "out", pca_k=3, pca_variance=None), spark)
    assert tablekit.current_run_id(tmp_path / "out") is None


def test_refusals_name_the_problem(spark, images, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an image pack"):
        pack(spark, images, foreign)
    pack(spark, images, tmp_path / "pack")
    with pytest.raises(ConfigError, match="is an image pack already"):
        pack(spark, tmp_path / "pack", tmp_path / "again")
    with pytest.raises(ConfigError, match="is an image pack already"):  # the same through `fruits run --pack`
        run_job(job_config(tmp_path / "pack", tmp_path / "out", pack=str(tmp_path / "again")), spark)
    assert not (tmp_path / "out").exists() and not (tmp_path / "again").exists()
    listing = tmp_path / "list.txt"
    listing.write_text("Training/Banana/x.jpg\n")
    with pytest.raises(ConfigError, match="--input-list does not apply"):
        run_job(job_config(tmp_path / "pack", tmp_path / "out", input_list=str(listing)), spark)
    with pytest.raises(ConfigError, match="inside the input"):
        PackConfig(input_uri=str(images), output_uri=str(images / "pack")).validate()
    with pytest.raises(ConfigError, match="not a fruits output"):
        run_job(job_config(images, tmp_path / "pack"), spark)


def test_a_file_that_cannot_be_read_is_left_out_with_its_reason(spark, images):
    import pyarrow as pa

    present = str(next(images.glob("Training/Banana/*.jpg")).resolve())
    batch = pa.RecordBatch.from_pydict({
        "path": ["file:" + present, "file:/nowhere/gone.jpg", "file:/in/notes.txt"],
        "size": [os.path.getsize(present), 10, 5], "modified": [1, 2, 3], "reason": [None, None, "not an image file (.txt)"]})
    (out,) = list(_make_reader(StoreSpec())([batch]))
    assert out.column("unread").to_pylist() == [None, "file:/nowhere/gone.jpg: file disappeared during the run", None]
    assert out.column("content")[0].as_py()[:2] == b"\xff\xd8" and out.column("content")[2].as_py() is None
    assert out.column("read_retries").to_pylist() == [0, 0, 0]


def test_int8_calibrates_on_the_packs_bytes(spark, images, tmp_path):
    pack(spark, images, tmp_path / "pack")
    run = run_job(job_config(tmp_path / "pack", tmp_path / "out", pca_k=3, pca_variance=None, **QUICK_INT8), spark)
    precision = run.metrics["precision"]
    assert precision["mode"] == "int8" and run.metrics["counts"]["consistent"]
    assert precision["calibration_images"] > 0


def test_a_generation_that_reads_back_short_is_not_committed(spark, images, tmp_path):
    """The generation is read back before the commit; a count other than the one written is an error."""
    from fruits.pipeline.pack import _check_written

    target = tmp_path / "pack"
    result = pack(spark, images, target)
    generation = str(next(target.glob("gen-*")))
    assert spark.read.parquet(generation).count() == result.generation.rows == result.manifest.rows
    with pytest.raises(JobError, match="rows where"):
        _check_written(spark, generation, "gen-x", result.generation.rows + 1, spark.createDataFrame([], "path string"), "x")


def test_run_with_pack_packs_the_new_images_first_then_featurizes_from_the_pack(spark, images, tmp_path):
    target, output = tmp_path / "pack", tmp_path / "out"
    first = run_job(job_config(images, output, pca_k=3, pca_variance=None, pack=str(target)), spark)
    listed = first.metrics["counts"]["listed"]
    assert first.pack.generation.rows == listed and (target / PACK_MANIFEST).is_file()
    assert first.metrics["input_pack"] == {"generations": [first.pack.generation.name], "rows": listed}
    (images / "Training" / CLASSES[10].name).mkdir()
    render(CLASSES[10], np.random.default_rng(3)).save(images / "Training" / CLASSES[10].name / "new.jpg", format="JPEG")
    second = run_job(job_config(images, output, pca_k=3, pca_variance=None, pack=str(target), incremental=True), spark)
    assert second.pack.generation.rows == 1  # only the new image was read and packed
    assert second.metrics["input_pack"]["generations"] == [first.pack.generation.name, second.pack.generation.name]
    assert (second.metrics["incremental"]["new"], second.metrics["incremental"]["reused"]) == (1, listed)
    assert second.metrics["counts"]["accepted"] == first.metrics["counts"]["accepted"] + 1


@pytest.mark.parametrize("where, named", [("output", "--output"), ("inside input", "--input"), ("holding input", "--input")])
def test_run_with_pack_refuses_a_pack_that_overlaps_the_input_or_the_output(tmp_path, where, named):
    (tmp_path / "images" / "Training").mkdir(parents=True)
    (tmp_path / "images" / "Training" / "a.jpg").write_bytes(b"not checked before the run")
    pack_uri = {"output": tmp_path / "out", "inside input": tmp_path / "images" / "pack", "holding input": tmp_path}[where]
    with pytest.raises(ConfigError, match=f"--pack .* overlaps {named} "):
        job_config(tmp_path / "images", tmp_path / "out", pack=str(pack_uri))
