"""The ceiling: the model alone over pre-decoded batches, one process, all cores.

fp32 is a plain Keras predict_on_batch loop; int8 is the same model quantized to TFLite as
`--precision int8` quantizes it (`fruits.models.quantize`, calibrated on the first 100 images), run over
the same batches. Prints one JSON line: images, seconds, images_per_second, threads, peak_rss_mb
(int8 adds quantize_seconds). Decoding is done before the clock starts: this is the speed of the
model itself, its preprocessing included, as in the job. The functions are shared with
bench/int8.py, so both benchmarks time the same model the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

MODELS = ("resnet50", "efficientnet-lite0")
PRECISIONS = ("fp32", "int8")


def weights_for(model: str) -> str:
    """ResNet50 with random weights; Lite0 with its ImageNet weights, since random Lite0 weights
    give every image the same features and the job's PCA refuses those."""
    return "imagenet" if model == "efficientnet-lite0" else "random"


def decoded_pixels(folder: Path) -> np.ndarray:
    """Every JPEG under `folder`, in path order, decoded as the job decodes it: (n, 224, 224, 3) uint8."""
    from fruits.imaging import decode_image

    return np.stack([decode_image(p.read_bytes()).pixels for p in sorted(folder.rglob("*.jpg"))])


def fp32_model(model: str, threads: int) -> Any:
    """The job's fp32 featurizer for `model` (weights from `weights_for`), TensorFlow on `threads`."""
    from fruits.models.build import build_model
    from fruits.models.spec import ModelSpec
    from fruits.models.weights import resolve_weights

    return build_model(ModelSpec(weights=resolve_weights(weights_for(model), model), model=model, threads=threads))


def int8_model(fp32: Any, calibration: np.ndarray, folder: Path, threads: int) -> Any:
    """`fp32` quantized by the job's own code, calibrated on `calibration` (preprocessed inputs),
    written under `folder` and loaded as the TFLite featurizer the workers use."""
    from fruits.models.quantize import quantize_int8
    from fruits.models.tflite import TFLiteFeaturizer

    path = folder / "int8.tflite"
    path.write_bytes(quantize_int8(fp32, calibration))
    return TFLiteFeaturizer(str(path), threads)


def features(model: Any, inputs: np.ndarray, batch_size: int,
             preprocess: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> tuple[np.ndarray, float]:
    """All features of `inputs` in batches, and the seconds it took (after one warm-up batch).

    With `preprocess`, each batch goes through it inside the clock (raw pixels in, as the job does);
    without, `inputs` are the model's inputs already.
    """
    prepare = preprocess or (lambda batch: batch)
    model.predict_on_batch(prepare(inputs[:batch_size]))
    started = time.perf_counter()
    out = [np.asarray(model.predict_on_batch(prepare(inputs[i : i + batch_size])))
           for i in range(0, len(inputs), batch_size)]
    return np.concatenate(out), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--model", choices=MODELS, default="resnet50")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    args = parser.parse_args()

    from fruits.models.build import preprocessor
    from fruits.models.quantize import CALIBRATION_IMAGES

    pixels = decoded_pixels(args.images)
    preprocess = preprocessor(args.model)
    model = fp32_model(args.model, args.threads)
    extra = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.precision == "int8":
            started = time.perf_counter()
            model = int8_model(model, preprocess(pixels[:CALIBRATION_IMAGES]), Path(tmp), args.threads)
            extra["quantize_seconds"] = round(time.perf_counter() - started, 1)
        _, seconds = features(model, pixels, args.batch_size, preprocess)
    print(json.dumps({
        "images": len(pixels), "seconds": round(seconds, 3), "images_per_second": len(pixels) / seconds,
        "model": args.model, "precision": args.precision, "weights": weights_for(args.model), **extra,
        "threads": args.threads, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
