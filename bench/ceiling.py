"""The ceiling: plain Keras ResNet50 over pre-decoded batches, one process, all cores.

Prints one JSON line: images, seconds, images_per_second, threads, peak_rss_mb.
Decoding is done before the clock starts: this is the speed of the model itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    from fruits.featurize import ModelSpec, build_resnet50
    from fruits.imaging import decode_image
    from fruits.weights import resolve_weights

    files = sorted(p for p in args.images.rglob("*.jpg"))
    pixels = np.stack([decode_image(p.read_bytes()).pixels for p in files])
    model = build_resnet50(ModelSpec(weights=resolve_weights("random"), threads=args.threads))
    from keras.applications.resnet50 import preprocess_input

    model.predict_on_batch(preprocess_input(pixels[: args.batch_size].astype(np.float32)))  # warm-up
    start = time.perf_counter()
    for first in range(0, len(pixels), args.batch_size):
        model.predict_on_batch(preprocess_input(pixels[first : first + args.batch_size].astype(np.float32)))
    seconds = time.perf_counter() - start
    print(json.dumps({
        "images": len(pixels), "seconds": round(seconds, 3), "images_per_second": len(pixels) / seconds,
        "threads": args.threads, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
