"""The pieces that let the job run on a Spark Connect session, checked without a JVM."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fruits.config.job_config import JobConfig
from fruits.errors import ConfigError
from fruits.pipeline.covariance import Moments, merge, merge_many, slices_of
from fruits.pipeline.featurizer import STAT_COLUMNS, BatchFeatures, output_schema, worker_dict


def moments_of(rows: np.ndarray) -> Moments:
    mean = rows.mean(axis=0)
    return Moments(len(rows), mean, (rows - mean).T @ (rows - mean))


def test_merging_partitions_slice_by_slice_equals_the_pairwise_merge():
    rng = np.random.default_rng(3)
    groups = [rng.normal(size=(n, 7)) * 3 + 1e3 for n in (5, 1, 40, 12)]
    expected = moments_of(np.concatenate(groups))
    pairwise = Moments(0, np.zeros(7), np.zeros((7, 7)))
    for group in groups:
        pairwise = merge(pairwise, moments_of(group))
    parts = [moments_of(g) for g in groups]
    rows, means = np.array([p.rows for p in parts]), np.stack([p.mean for p in parts])
    sliced = np.concatenate([merge_many(rows, means, [p.centred[lines] for p in parts], lines).centred for lines in slices_of(7)])
    np.testing.assert_allclose(sliced, expected.centred, rtol=1e-9)
    np.testing.assert_allclose(pairwise.centred, expected.centred, rtol=1e-9)
    assert merge_many(rows, means, [p.centred for p in parts], slice(0, 7)).rows == 58


def test_slices_cover_every_row_once():
    for dim in (1, 7, 16, 1280, 2048):
        lines = [i for part in slices_of(dim) for i in range(part.start, part.stop)]
        assert lines == list(range(dim))


def test_the_workers_statistics_ride_on_the_first_row_and_are_dropped_by_name():
    batch = pa.RecordBatch.from_pydict({"path": ["a", "b"], "size": [1, 2], "modified": [3, 4], "extra": ["x", "y"]})
    features = BatchFeatures(np.ones((2, 3), np.float32), [None, "cannot decode"])
    out = features.to_arrow(batch, stats={"model_builds": 1, "model_calls": 2, "decode_seconds": 0.5, "infer_seconds": 1.5})
    assert out.schema.names == ["path", "size", "modified", "features", "error", *STAT_COLUMNS]
    assert out.column("_fruits_model_calls").to_pylist() == [2, 0]
    assert out.column("features").to_pylist()[1] is None
    assert features.to_arrow(batch, keep=None).schema.names[:4] == ["path", "size", "modified", "extra"]
    assert output_schema("path string").startswith("path string, features array<float>, error string, _fruits_model_builds bigint")
    assert worker_dict({"images_done": 2, "decode_seconds": 0.12345}) == {
        "model_builds": 0, "model_calls": 0, "images_done": 2, "s3_retries": 0, "decode_seconds": 0.123, "infer_seconds": 0.0,
        "model_ready_seconds": 0.0, "first_result_seconds": 0.0}


@pytest.mark.parametrize("remote, master, message", [
    ("sc://h:15002", "local[2]", "--master or --remote, not both"),
    ("http://h:15002", None, "takes a Spark Connect URL"),
    ("local[x]", None, "takes a Spark Connect URL"),
])
def test_remote_is_checked_before_anything_starts(remote, master, message, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"x")
    with pytest.raises(ConfigError, match=message):
        JobConfig(input_uri=str(tmp_path / "in"), output_uri=str(tmp_path / "out"), remote=remote, master=master).validate()


def test_remote_accepts_a_server_url_or_a_local_one(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"x")
    for remote in ("sc://spark-connect:15002", "local", "local[2]", "local[*]"):
        JobConfig(input_uri=str(tmp_path / "in"), output_uri=str(tmp_path / "out"), remote=remote).validate()
