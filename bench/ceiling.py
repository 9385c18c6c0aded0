"""The ceiling: the model alone over pre-decoded batches, on every core, in its fastest layout.

`--runtime` picks what runs the model: TensorFlow/Keras (fp32, the default), TFLite (int8's
default: the model quantized as `--precision int8` quantizes it, `fruits.models.quantize`,
calibrated on the first 100 images), LiteRT, ONNX Runtime or OpenVINO (bench/runtimes_engines.py
makes their model files). `--layout best` measures one process with N threads and N processes
with one thread each (the images split between them, the wall-clock of the slowest) and keeps
the faster: the job runs N single-threaded workers, and its ceiling must not be slower than that.
Prints one JSON line: images, seconds, images_per_second (the best layout), runtime, layout,
threads, peak_rss_mb, the rate of each layout measured, convert_seconds (int8 also
quantize_seconds). Decoding is done before the clock starts: this is the speed of the model
itself, its preprocessing included, as in the job. The functions are shared with bench/int8.py
and bench/runtimes.py, so the benchmarks time the same model the same way.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtimes_engines import DEFAULT_RUNTIME, RUNTIMES, ModelFiles, check_runtime, load  # noqa: E402
from runtimes_layout import LAYOUTS, Share, fastest, layout_name, layouts_to_measure, run_processes, split  # noqa: E402

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


def measure(args: argparse.Namespace, files: ModelFiles, pixels: np.ndarray, folder: Path) -> dict[str, Any]:
    """The runtime's model over `pixels` in each layout `args.layout` asks for; the fields of the JSON line."""
    from fruits.models.preprocess import preprocessor

    path, convert_seconds = files.get(args.runtime, args.precision)
    rates, seconds, extra = {}, {}, {}
    for layout in layouts_to_measure(args.layout, args.threads):
        if layout == "threads":
            loading = time.perf_counter()
            model = load(args.runtime, args.precision, args.model, path, args.threads)
            extra["load_seconds"] = round(time.perf_counter() - loading, 1)
            out, seconds[layout] = features(model, pixels, args.batch_size, preprocessor(args.model))
            if args.features_out:
                np.save(args.features_out, out)
        else:
            np.save(folder / "pixels.npy", pixels)
            shares = [Share(args.runtime, args.precision, args.model, path, folder / "pixels.npy", start, stop, args.batch_size)
                      for start, stop in split(len(pixels), args.threads)]
            seconds[layout], extra["peak_rss_mb_per_process"] = run_processes(shares)
        rates[layout] = len(pixels) / seconds[layout]
    best = fastest(rates)
    if args.precision == "int8":
        extra["quantize_seconds"] = round(convert_seconds, 1)
    return {
        "seconds": round(seconds[best], 3), "images_per_second": rates[best],
        "layout": layout_name(best, args.threads),
        "layouts": {layout_name(name, args.threads): rate for name, rate in rates.items()},
        "convert_seconds": round(convert_seconds, 1), **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="cores: threads of one process, or processes")
    parser.add_argument("--model", choices=MODELS, default="resnet50")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--runtime", choices=RUNTIMES, help="default: tensorflow for fp32, tflite for int8")
    parser.add_argument("--layout", choices=LAYOUTS, default="best")
    parser.add_argument("--model-files", type=Path, help="keep converted model files here and reuse them (default: a temporary folder)")
    parser.add_argument("--features-out", type=Path, help="write the features of the threads layout here (.npy)")
    args = parser.parse_args()
    args.runtime = args.runtime or DEFAULT_RUNTIME[args.precision]
    try:
        check_runtime(args.runtime, args.precision)
        layouts_to_measure(args.layout, args.threads)
    except ValueError as exc:
        parser.error(str(exc))

    from fruits.models.preprocess import preprocessor
    from fruits.models.quantize import CALIBRATION_IMAGES

    pixels = decoded_pixels(args.images)
    if len(pixels) < args.threads:
        parser.error(f"{len(pixels)} images under {args.images}: at least one per process (--threads {args.threads}) is needed")
    with tempfile.TemporaryDirectory() as tmp:
        keras_model = functools.cache(lambda: fp32_model(args.model, args.threads))
        files = ModelFiles(args.model_files or Path(tmp) / "models", keras_model,
                           lambda: preprocessor(args.model)(pixels[:CALIBRATION_IMAGES]))
        result = measure(args, files, pixels, Path(tmp))
    print(json.dumps({
        "images": len(pixels), "model": args.model, "precision": args.precision, "weights": weights_for(args.model),
        "runtime": args.runtime, "threads": args.threads,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **result,
    }))


if __name__ == "__main__":
    main()
