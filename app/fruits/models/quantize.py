"""`--precision int8`: the feature extractor quantized to int8, calibrated on the run's own images.

Why TensorFlow Lite: its post-training full-integer quantization takes the Keras model and a
representative sample, and its XNNPACK kernels run int8 convolutions with the CPU's VNNI
instructions (`make bench-int8` measures ResNet50 at several times the fp32 Keras ceiling here).
Inputs and outputs stay float32: the same preprocessing goes in, a feature vector of the same
size comes out; weights and activations inside are int8, so the features are close to the fp32
ones, not equal. The driver quantizes once per run and measures that closeness (cosine
similarity) on images it did not calibrate on; metrics.json records it. Never the default.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from fruits.models.build import build_model
from fruits.models.convert import convert_to_tflite
from fruits.models.runtime import load_model_file
from fruits.models.spec import ModelSpec

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 100
CHECK_IMAGES = 32


@dataclass(frozen=True)
class QuantizationReport:
    """How the int8 featurizer was made, and how close its features are to fp32's."""

    calibration_images: int
    check_images: int
    cosine_mean: float
    cosine_min: float
    seconds: float
    stored: bool = False  # found in the output's converted models (fruits.pipeline.converted), not made now

    def to_dict(self) -> dict:
        return {
            "mode": "int8",
            "calibration_images": self.calibration_images,
            "check_images": self.check_images,
            "cosine_to_fp32": {"mean": round(self.cosine_mean, 6), "min": round(self.cosine_min, 6)},
            "quantize_seconds": round(self.seconds, 1),
        }


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays; 1.0 where both rows are zero.

    >>> cosine_similarity(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [1.0, 1.0]
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0)
    return np.where(both_zero, 1.0, dots / np.where(norms == 0, 1.0, norms))


def quantize_int8(model: Any, inputs: np.ndarray, saved_model: Optional[Path] = None) -> bytes:
    """A TFLite flatbuffer of `model` with int8 weights and activations, float32 in and out.

    `inputs` is the representative sample, already preprocessed (n, 224, 224, 3) float32.
    `saved_model`: `model` already exported there (fruits.models.quantize.Fp32Prebuild).
    """
    return convert_to_tflite(model, saved_model, calibration=inputs)


@dataclass(frozen=True)
class Fp32Model:
    """The fp32 model the driver quantizes, and the same model exported as a SavedModel."""

    model: Any
    saved_model: Path


class Fp32Prebuild:
    """The driver's fp32 model, built and exported in a background thread from the run's start.

    Why: TensorFlow's import, the model's build and its SavedModel export take several seconds of
    one core and need nothing from the input, while the list stage leaves the driver waiting on
    Spark; started together, they overlap. `take()` waits for the model (or raises the build's
    error); `close()` waits for the thread and removes the export.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="fruits-fp32-")
        self._result: Future = Future()
        self._thread = threading.Thread(target=self._build, args=(spec,), name="fruits-fp32-prebuild", daemon=True)
        self._thread.start()

    def _build(self, spec: ModelSpec) -> None:
        try:
            started = time.perf_counter()
            model = build_model(dataclasses.replace(spec, threads=os.cpu_count() or 1))
            model.export(self._folder.name, format="tf_saved_model", verbose=False)
            log.debug("int8: fp32 model built and exported in %.1f s, beside the listing", time.perf_counter() - started)
            self._result.set_result(Fp32Model(model, Path(self._folder.name)))
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that takes the model
            self._result.set_exception(exc)

    def take(self) -> Fp32Model:
        return self._result.result()

    def close(self) -> None:
        self._thread.join()
        self._folder.cleanup()


def prepare_int8(model: Any, preprocess: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray,
                 destination: Path, threads: int, saved_model: Optional[Path] = None,
                 runtime: str = "litert") -> QuantizationReport:
    """Quantize `model`, calibrated on the first CALIBRATION_IMAGES of `pixels` (uint8, n x 224 x 224 x 3),
    write it to `destination`, and compare int8 with fp32 features on the images after those.

    The int8 features are those of `runtime`, the one the workers run it with.
    Raises ValueError when there are fewer than 2 images (one to calibrate, one to check).
    """
    if len(pixels) < 2:
        raise ValueError(f"int8 needs at least 2 decodable images to calibrate and check, got {len(pixels)}")
    started = time.perf_counter()
    calibrate = min(CALIBRATION_IMAGES, len(pixels) - 1)
    inputs = preprocess(pixels)
    destination.write_bytes(quantize_int8(model, inputs[:calibrate], saved_model=saved_model))
    check = inputs[calibrate : calibrate + CHECK_IMAGES]
    int8 = load_model_file(runtime, str(destination), threads).predict_on_batch(check)
    fp32 = np.asarray(model.predict_on_batch(check))
    similarity = cosine_similarity(int8, fp32)
    report = QuantizationReport(calibration_images=calibrate, check_images=len(check), cosine_mean=float(similarity.mean()),
                                cosine_min=float(similarity.min()), seconds=time.perf_counter() - started)
    log.info("int8 featurizer: calibrated on %d images in %.0f s; cosine to fp32 on %d other images: mean %.4f, min %.4f",
             report.calibration_images, report.seconds, report.check_images, report.cosine_mean, report.cosine_min)
    return report
