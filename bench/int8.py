"""`make bench-int8`: the int8 featurizer against the fp32 ceiling, in one process, on the same images.

(a) fp32: the ceiling of `make bench`, a Keras predict_on_batch loop over pre-decoded images using
    every core; (b) int8: the same model quantized by `fruits.models.quantize` (calibrated on the first
    100 images, as a run calibrates on 100 of its own), a TFLite loop over the same batches and
    cores. Prints both rates, the speed-up b/a and the cosine similarity between the int8 and fp32
    features of every image not used for calibration; writes a JSON result. Reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling import MODELS, decoded_pixels, features, fp32_model, int8_model, weights_for  # noqa: E402
from throughput import ensure_images  # noqa: E402  (bench scripts run from the repository root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", choices=MODELS, default="resnet50")
    parser.add_argument("--work", type=Path, default=Path("out/bench"))
    parser.add_argument("--result", type=Path, default=Path("out/bench/int8.json"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from fruits.models.build import preprocessor
    from fruits.models.quantize import CALIBRATION_IMAGES, cosine_similarity

    folder = args.work / f"images-{args.images}"
    ensure_images(folder, args.images)
    cores = os.cpu_count() or 1
    inputs = preprocessor(args.model)(decoded_pixels(folder))
    print(f"bench-int8: {len(inputs)} JPEGs in {folder}, {args.model}, batch {args.batch_size}, {cores} cores", flush=True)
    weights = weights_for(args.model)
    model = fp32_model(args.model, cores)

    fp32, fp32_seconds = features(model, inputs, args.batch_size)
    print(f"(a) fp32 Keras: {len(inputs) / fp32_seconds:.1f} images/s", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        int8_featurizer = int8_model(model, inputs[:CALIBRATION_IMAGES], Path(tmp), cores)
        quantize_seconds = time.perf_counter() - started
        int8, int8_seconds = features(int8_featurizer, inputs, args.batch_size)
    similarity = cosine_similarity(int8[CALIBRATION_IMAGES:], fp32[CALIBRATION_IMAGES:])
    # Raw CNN features share a large common part (all positive after ReLU): centred on the fp32
    # mean, the cosine measures the error against what differs from image to image.
    centre = fp32[CALIBRATION_IMAGES:].mean(axis=0)
    centred = cosine_similarity(int8[CALIBRATION_IMAGES:] - centre, fp32[CALIBRATION_IMAGES:] - centre)
    result = {
        "images": len(inputs), "model": args.model, "weights": weights, "batch_size": args.batch_size, "cores": cores,
        "fp32_images_per_second": len(inputs) / fp32_seconds, "int8_images_per_second": len(inputs) / int8_seconds,
        "speedup_int8_to_fp32": fp32_seconds / int8_seconds, "quantize_seconds": round(quantize_seconds, 1),
        "cosine_to_fp32": {"images": len(similarity), "mean": float(similarity.mean()), "min": float(similarity.min()),
                           "p01": float(np.quantile(similarity, 0.01))},
        "cosine_to_fp32_centred": {"mean": float(centred.mean()), "min": float(centred.min()),
                                   "p01": float(np.quantile(centred, 0.01))},
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    print(f"(b) int8 TFLite: {result['int8_images_per_second']:.1f} images/s (quantized in {quantize_seconds:.0f} s "
          f"on {CALIBRATION_IMAGES} images)")
    print(f"speed-up b/a: {result['speedup_int8_to_fp32']:.2f}")
    c = result["cosine_to_fp32"]
    print(f"cosine int8 vs fp32 over {c['images']} other images: mean {c['mean']:.5f}, 1st percentile {c['p01']:.5f}, "
          f"min {c['min']:.5f}")
    c = result["cosine_to_fp32_centred"]
    print(f"the same, centred on the fp32 mean: mean {c['mean']:.5f}, 1st percentile {c['p01']:.5f}, min {c['min']:.5f}")
    print(f"result: {args.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
