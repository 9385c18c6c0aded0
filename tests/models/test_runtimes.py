"""The workers' model runtime (fruits.models.runtime): LiteRT runs the driver's converted .tflite
file with the features of the Keras model, on preprocessing in NumPy that equals Keras' own, and a
worker on that path imports neither TensorFlow nor Keras."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fruits.imaging import decode_image
from fruits.models.build import build_model
from fruits.models.convert import convert_to_tflite
from fruits.models.preprocess import preprocessor, resnet50_preprocess
from fruits.models.quantize import cosine_similarity
from fruits.models.runtime import RuntimeFailure, load_model_file
from fruits.models.spec import ModelSpec
from fruits.models.weights import resolve_weights
from fruits.sample import generate_sample

# The issue's bar for adopting a runtime at fp32: every image's features within this cosine of Keras'.
FP32_COSINE = 0.999


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Real JPEG files of the generated sample and their pixels, decoded as the job decodes them."""
    root = tmp_path_factory.mktemp("runtimes") / "fruits"
    generate_sample(root, classes=4, per_class=3, seed=11)
    files = sorted(root.rglob("*.jpg"))
    return root, np.stack([decode_image(path.read_bytes()).pixels for path in files])


def test_resnet50_preprocessing_equals_keras_bit_for_bit(pictures):
    from keras.applications.resnet50 import preprocess_input

    pixels = pictures[1]
    ours = resnet50_preprocess(pixels)
    assert ours.dtype == np.float32
    assert np.array_equal(ours, preprocess_input(pixels.astype(np.float32)))


@pytest.mark.parametrize("model, weights", [("resnet50", "random"), ("efficientnet-lite0", "imagenet")])
def test_litert_fp32_features_match_keras(model, weights, pictures, tmp_path):
    keras_model = build_model(ModelSpec(weights=resolve_weights(weights, model), model=model, threads=2))
    path = tmp_path / "model.tflite"
    path.write_bytes(convert_to_tflite(keras_model))
    inputs = preprocessor(model)(pictures[1])
    litert = load_model_file("litert", str(path), 2).predict_on_batch(inputs)
    similarity = cosine_similarity(litert, np.asarray(keras_model.predict_on_batch(inputs)))
    assert similarity.min() >= FP32_COSINE, f"{model}: cosine to Keras {similarity.min():.6f} < {FP32_COSINE}"


def test_a_runtime_that_cannot_load_the_file_is_an_error_not_a_fallback(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(RuntimeFailure, match="runtime 'litert' cannot load the model file .*no other runtime is tried"):
        load_model_file("litert", str(broken), 1)
    with pytest.raises(ValueError, match="unknown model runtime 'onnx'"):
        load_model_file("onnx", str(broken), 1)


# Runs in a fresh interpreter: what the worker's own modules import, from the featurize function to features.
WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import pyarrow as pa
    from pyspark import SparkFiles
    from fruits.models.spec import ModelSpec, WeightsSpec
    from fruits.pipeline.featurizer import make_featurize_function
    from fruits.storage.reads import StoreSpec

    model_file, folder = Path(sys.argv[1]), sys.argv[2]
    SparkFiles._is_running_on_worker, SparkFiles._root_directory = True, str(model_file.parent)  # as a worker sees it
    files = sorted(Path(folder).rglob("*.jpg"))
    batch = pa.RecordBatch.from_pydict({"path": [str(p) for p in files], "size": [p.stat().st_size for p in files],
                                        "modified": [0] * len(files)})
    spec = ModelSpec(weights=WeightsSpec("random"), model="efficientnet-lite0", model_file=model_file.name)
    featurize = make_featurize_function(spec, StoreSpec.for_uri(folder, None, 1 << 26), batch_size=4)
    out = pa.Table.from_batches(list(featurize(iter([batch]))))
    print(json.dumps({"rows": out.num_rows, "without_error": out.column("error").null_count,
                      "norm": float(sum(sum(abs(v) for v in row) for row in out.column("features").to_pylist())),
                      "imported": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))}))
""")


def test_a_litert_worker_imports_no_tensorflow(pictures, tmp_path):
    folder = pictures[0]
    keras_model = build_model(ModelSpec(weights=resolve_weights("random", "efficientnet-lite0"), model="efficientnet-lite0"))
    model_file = tmp_path / "lite0-fp32.tflite"
    model_file.write_bytes(convert_to_tflite(keras_model))
    done = subprocess.run([sys.executable, "-c", WORKER, str(model_file), str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    files = len(list(folder.rglob("*.jpg")))
    assert result["rows"] == files and result["without_error"] == files
    assert result["norm"] > 0
    assert result["imported"] == [], f"the worker imported {result['imported'][:5]}"
