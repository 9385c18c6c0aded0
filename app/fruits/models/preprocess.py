"""Each model's preprocessing in NumPy alone, so that a worker running a converted model imports
neither TensorFlow nor Keras: (n, 224, 224, 3) uint8 RGB -> the float32 input the model was trained on.

ResNet50 takes Keras' "caffe" preprocessing (`keras.applications.resnet50.preprocess_input`):
RGB to BGR, then each channel less its ImageNet mean, unscaled. The same float32 operations in the
same order give the same bits (tests/models/test_runtimes.py compares them with Keras').

>>> resnet50_preprocess(np.array([[[0, 127, 255]]], dtype=np.uint8)).tolist()
[[[151.06100463867188, 10.221000671386719, -123.68000030517578]]]
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from fruits.models.efficientnet_lite0 import preprocess as efficientnet_lite0_preprocess

# Keras' ImageNet means of the B, G and R channels ("caffe" mode).
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def resnet50_preprocess(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 -> BGR float32 less the ImageNet mean of each channel."""
    return np.asarray(pixels, dtype=np.float32)[..., ::-1] - CAFFE_BGR_MEAN


def preprocessor(model: str) -> Callable[[np.ndarray], np.ndarray]:
    """(n, 224, 224, 3) uint8 -> the float32 input `model` was trained on."""
    return efficientnet_lite0_preprocess if model == "efficientnet-lite0" else resnet50_preprocess
