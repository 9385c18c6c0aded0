"""Building a featurizer: ResNet50 (Keras, 2048 features) or EfficientNet-Lite0 (1280), fp32 or the
converted .tflite file (fp32, or the int8 model a run quantized), and the preprocessing each was trained with.

Shapes: (n, 224, 224, 3) uint8 -> `preprocessor(model)` float32 -> the model -> (n, dim) float32.
TensorFlow is imported only where a Keras model is built: a worker running a converted file
(`fruits.models.runtime`) never imports it.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from fruits.config.job_config import MODEL_DIMS
from fruits.config.settings import set_process_env
from fruits.imaging import TARGET_SIZE
from fruits.models.preprocess import preprocessor  # noqa: F401 - where the benchmarks have always found it
from fruits.models.runtime import load_model_file
from fruits.models.spec import ModelSpec
from fruits.quiet import QUIET_TF_LEVEL


def build_model(spec: ModelSpec) -> Any:
    """The spec's featurizer: its converted file run by its runtime (no TensorFlow with LiteRT), else
    the Keras ResNet50 (2048) or EfficientNet-Lite0 (1280), random ones seeded."""
    if spec.model_file is not None:
        from pyspark import SparkFiles

        model = load_model_file(spec.runtime, SparkFiles.get(spec.model_file), spec.threads)
    elif spec.precision == "int8":
        raise ValueError("an int8 model runs from its quantized file, and this spec names none")
    elif spec.model == "efficientnet-lite0":
        configure_tensorflow(spec.threads)
        import keras

        from fruits.models.efficientnet_lite0 import build_efficientnet_lite0

        if spec.weights.kind == "random":
            keras.utils.set_random_seed(spec.seed)
        model = build_efficientnet_lite0(weights_path(spec))
    else:
        model = build_resnet50(spec)
    if model.output_shape[-1] != MODEL_DIMS[spec.model]:
        raise ValueError(f"{spec.model} gives {model.output_shape[-1]} features, expected {MODEL_DIMS[spec.model]}")
    return model


def configure_tensorflow(threads: int) -> None:
    """TensorFlow's threads for this process (only possible before its first op), Keras on TensorFlow."""
    set_process_env("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LEVEL, overwrite=False)
    set_process_env("KERAS_BACKEND", "tensorflow", overwrite=False)
    import tensorflow as tf

    try:  # only possible before TensorFlow runs its first op in this process
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


def build_resnet50(spec: ModelSpec) -> Any:
    """Build ResNet50 (include_top=False, pooling='avg', 224x224x3) with the spec's weights."""
    configure_tensorflow(spec.threads)
    import keras

    weights = weights_path(spec)
    if spec.weights.kind == "random":
        keras.utils.set_random_seed(spec.seed)
    if weights and weights.endswith(".keras"):
        model = load_keras_file(weights)
    else:
        model = keras.applications.ResNet50(
            weights=weights, include_top=False, pooling="avg", input_shape=(*TARGET_SIZE, 3)
        )
    return model


def load_keras_file(path: str) -> Any:
    """A whole saved feature extractor, in Keras safe mode: a Lambda layer or other code is refused."""
    configure_tensorflow(os.cpu_count() or 1)
    import keras

    return keras.models.load_model(path, compile=False, safe_mode=True)


def weights_path(spec: ModelSpec) -> Optional[str]:
    if spec.weights.kind == "random":
        return None
    if spec.shipped_file:
        from pyspark import SparkFiles

        return SparkFiles.get(spec.shipped_file)
    path = spec.weights.uri
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"weights file {path} is missing on this worker; ship it with --weights PATH_OR_URI or bake it into the image"
        )
    return path
