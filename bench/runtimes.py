"""`make bench-runtimes`: the featurizer alone on each runtime, on the same images, batch and cores.

For each model (ResNet50 with random weights, EfficientNet-Lite0 with its ImageNet weights) and
each of TensorFlow/Keras fp32 (today's fp32 ceiling), TFLite int8 (today's int8), LiteRT fp32 and
int8, ONNX Runtime fp32 and int8 (static quantization) and OpenVINO fp32 and int8 (NNCF), all
int8 calibrated on the same first 100 images:

- images/s and the layout they were reached in: bench/ceiling.py, best of one process x N threads
  and N processes x 1 thread;
- time to first result and peak RSS: a fresh process (bench/runtimes_first.py) from the start of
  its interpreter to the first batch's features, the model file already converted;
- convert seconds: the model file's own conversion step (TensorFlow: the Keras build, in load);
- agreement: cosine (mean and min over every image) to TensorFlow fp32's features, and the Test
  accuracy of a logistic regression fit on the Training split's features.

The images are the `textures` sample (8 classes, 75% Training), whose classes only good features
tell apart. Prints a Markdown table per model and the fastest runtime that agrees per precision;
writes out/bench-runtimes/result.json. A runtime that fails says why in its row. Reported, not asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ceiling import MODELS, decoded_pixels, weights_for  # noqa: E402  (bench scripts run from the repository root)
from runtimes_engines import model_file  # noqa: E402
from runtimes_layout import LAYOUTS  # noqa: E402
from runtimes_report import fastest, judge, markdown_table  # noqa: E402

COMBOS = (("tensorflow", "fp32"), ("litert", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
          ("tflite", "int8"), ("litert", "int8"), ("onnxruntime", "int8"), ("openvino", "int8"))
CHILD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def ensure_textures(folder: Path, count: int) -> dict[str, int]:
    """The textures sample, `count` images over its 8 classes; generated once per count."""
    from fruits.sample import DEFAULT_CLASSES, generate_sample

    classes = DEFAULT_CLASSES["textures"]
    if not (folder / "Training").is_dir():
        generate_sample(folder, per_class=max(4, count // classes), seed=1, kind="textures")
    paths = sorted(folder.rglob("*.jpg"))
    return {split: sum(p.parts[-3] == split for p in paths) for split in ("Training", "Test")}


def labels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Class and split of every image, in decoded_pixels' order (the path order)."""
    paths = sorted(folder.rglob("*.jpg"))
    return np.array([p.parent.name for p in paths]), np.array([p.parts[-3] == "Training" for p in paths])


def test_accuracy(features: np.ndarray, classes: np.ndarray, training: np.ndarray) -> float:
    """A standardised logistic regression fit on the Training rows, scored on the Test rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features[training], classes[training])
    return float(model.score(features[~training], classes[~training]))


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def measure(args: argparse.Namespace, model: str, runtime: str, precision: str, inputs: Path) -> dict:
    """One runtime of one model: the ceiling's JSON line, then the fresh process's first result."""
    files, features = args.work / "models" / model, args.work / "features" / f"{model}-{runtime}-{precision}.npy"
    features.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(HERE / "ceiling.py"), "--images", str(args.images_dir), "--model", model,
               "--precision", precision, "--runtime", runtime, "--layout", args.layout, "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--model-files", str(files), "--features-out", str(features)]
    done = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV)
    if done.returncode != 0:
        return {"error": last_line(done.stderr)}
    ceiling = json.loads(done.stdout.strip().splitlines()[-1])
    path = model_file(runtime, precision, files)
    command = [sys.executable, str(HERE / "runtimes_first.py"), "--runtime", runtime, "--precision", precision,
               "--model", model, "--inputs", str(inputs), "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    started = time.monotonic()
    done = subprocess.run(command + (["--model-file", str(path)] if path else []), capture_output=True, text=True, env=CHILD_ENV)
    if done.returncode != 0:
        return {"error": "first result: " + last_line(done.stderr)}
    first = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "images_per_second": ceiling["images_per_second"], "layout": ceiling["layout"], "layouts": ceiling["layouts"],
        "convert_seconds": ceiling["convert_seconds"] if path else ceiling["load_seconds"],
        "first_result_seconds": first["first_result_monotonic"] - started, "peak_rss_mb": first["peak_rss_mb"],
        "features": np.load(features),
    }


def run_model(args: argparse.Namespace, model: str, classes: np.ndarray, training: np.ndarray) -> list[dict]:
    """Every runtime on `model`; rows with their agreement to TensorFlow fp32 filled in."""
    from fruits.models.preprocess import preprocessor
    from fruits.models.quantize import cosine_similarity

    inputs = args.work / f"inputs-{model}.npy"
    np.save(inputs, preprocessor(model)(decoded_pixels(args.images_dir)))
    rows, reference = [], None
    for runtime, precision in COMBOS:
        print(f"   {model}: {runtime} {precision} ...", flush=True)
        row = {"model": model, "runtime": runtime, "precision": precision,
               **measure(args, model, runtime, precision, inputs)}
        if "features" in row:
            features = row.pop("features")
            reference = features if (runtime, precision) == ("tensorflow", "fp32") else reference
            if reference is None:
                row = {k: v for k, v in row.items() if k in ("model", "runtime", "precision")}
                row["error"] = "no TensorFlow fp32 reference to compare with"
            else:
                cosine = cosine_similarity(features, reference)
                row.update(cosine_mean=float(cosine.mean()), cosine_min=float(cosine.min()),
                           accuracy=test_accuracy(features, classes, training))
        rows.append(row)
    inputs.unlink()
    return judge(rows)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=320, help="images of the textures sample (8 classes, 75%% Training)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--layout", choices=LAYOUTS, default="best")
    parser.add_argument("--work", type=Path, default=Path("out/bench-runtimes"))
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models:
        parser.error(f"--models takes a comma-separated list of {', '.join(MODELS)}; got {args.models!r}")
    if args.images < 8 * 4:
        parser.error(f"--images must be at least 32 (4 per class of the 8, one of them Test), got {args.images}")

    args.images_dir = args.work / f"textures-{args.images}"
    split = ensure_textures(args.images_dir, args.images)
    classes, training = labels(args.images_dir)
    print(f"bench-runtimes: {len(classes)} textures images ({split['Training']} Training, {split['Test']} Test, "
          f"{len(set(classes))} classes), batch {args.batch_size}, {args.threads} cores, {cpu_model()}", flush=True)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(),
              "cores": args.threads, "images": len(classes), "split": split, "classes": len(set(classes)),
              "batch_size": args.batch_size, "layout": args.layout, "models": {}}
    for model in models:
        rows = run_model(args, model, classes, training)
        best = fastest(rows)
        result["models"][model] = {"weights": weights_for(model), "rows": rows, "fastest_that_agrees": best}
        print(f"\n{model} ({weights_for(model)} weights)\n{markdown_table(rows)}")
        print("fastest that agrees: " + ", ".join(f"{p} {r or 'none'}" for p, r in best.items()), flush=True)
        path = args.work / "result.json"  # after each model: a long run stopped half-way keeps its first half
        path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
