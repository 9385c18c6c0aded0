"""The Keras model converted to a TFLite flatbuffer on the driver, the one place TensorFlow runs
when the workers use a converted model (`fruits.models.runtime`).

fp32: the converter's graph as it is, no optimisation, so the features match Keras' (cosine above
0.999 is tested, tests/models/test_runtimes.py). int8: post-training full-integer quantization on
a representative sample (`fruits.models.quantize`). Either way float32 in and out: the same
preprocessing goes in, a vector of the same size comes out.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np


def convert_to_tflite(model: Any, saved_model: Optional[Path] = None, calibration: Optional[np.ndarray] = None) -> bytes:
    """`model` (exported at `saved_model` already, or here) as a .tflite flatbuffer: fp32, or int8
    calibrated on `calibration` (preprocessed (n, 224, 224, 3) float32) when it is given."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        if saved_model is None:
            saved_model = Path(tmp)
            model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([calibration[i : i + 1]] for i in range(len(calibration)))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
        return converter.convert()


def converter_version() -> str:
    """What else decides a converted file's bytes: the TensorFlow and Keras that built and converted it."""
    import keras
    import tensorflow as tf

    return f"tensorflow {tf.__version__}, keras {keras.__version__}"
