"""The output's converted models (fruits.pipeline.converted) on local files: the key names what
decides the file, a kept model is found, and a corrupt, partial or foreign one is refused."""

from __future__ import annotations

import json
import logging

import pytest

from fruits.config.layout import CONVERTED_FILE, CONVERTED_MANIFEST
from fruits.models.spec import ModelSpec, WeightsSpec
from fruits.pipeline.converted import ConvertedStore, model_key
from fruits.storage.files import Files

RANDOM = ModelSpec(weights=WeightsSpec("random"))


def test_the_key_changes_with_everything_that_decides_the_file():
    base = model_key(RANDOM, "fp32")
    others = [model_key(ModelSpec(weights=WeightsSpec("random"), seed=7), "fp32"), model_key(RANDOM, "int8", "sample"),
              model_key(ModelSpec(weights=WeightsSpec("random"), model="efficientnet-lite0"), "fp32"),
              model_key(ModelSpec(weights=WeightsSpec("file", "/w.h5", sha256="ab" * 32)), "fp32")]
    assert all(other != base for other in others) and base == model_key(RANDOM, "fp32")
    assert model_key(RANDOM, "int8", "one") != model_key(RANDOM, "int8", "two")
    assert model_key(ModelSpec(weights=WeightsSpec("file", "s3a://bucket/w.h5")), "fp32") is None  # hash unknown


@pytest.fixture()
def store(tmp_path):
    output = tmp_path / "out"
    return ConvertedStore(Files(str(output)), str(output))


def test_a_kept_model_is_found_with_its_manifest(store, tmp_path):
    key = model_key(RANDOM, "fp32")
    made = tmp_path / "made.tflite"
    made.write_bytes(b"flatbuffer bytes")
    assert not store.has(key) and store.find(key, tmp_path / "x.tflite") is None
    store.keep(key, made, {"note": 1})
    assert store.has(key)
    manifest = store.find(key, tmp_path / "found.tflite")
    assert manifest["report"] == {"note": 1} and (tmp_path / "found.tflite").read_bytes() == b"flatbuffer bytes"


@pytest.mark.parametrize("damage", ["truncated", "other key"])
def test_a_damaged_model_is_refused_and_said(store, tmp_path, caplog, damage):
    key = model_key(RANDOM, "fp32")
    made = tmp_path / "made.tflite"
    made.write_bytes(b"flatbuffer bytes")
    store.keep(key, made, {})
    folder = tmp_path / "out" / store.folder(key).rsplit("/out/", 1)[1]
    if damage == "truncated":
        (folder / CONVERTED_FILE).write_bytes(b"flatbuf")
    else:
        manifest = json.loads((folder / CONVERTED_MANIFEST).read_text())
        (folder / CONVERTED_MANIFEST).write_text(json.dumps({**manifest, "key": {**key, "seed": 1}}))
    with caplog.at_level(logging.WARNING, logger="fruits.pipeline.converted"):
        assert store.find(key, tmp_path / "found.tflite") is None
    assert "fails its check" in caplog.text and not (tmp_path / "found.tflite").exists()
