"""`make bench-scale`: does the driver stay flat as the input grows? The real job at two sizes, one run.

For each N (default 100,000 and 1,000,000): N generated 24x24 JPEGs in 100 classes, then `fruits run`
over them in local mode with `spark.driver.memory=1g`: listing, labels, featurize, reduce, write,
commit, picture, metrics. The model is a stand-in, named in the output: a Keras file (global average
pooling, then a dense layer to 2,048 values, 8 of them non-zero) passed as ResNet50 weights, so the
network costs nothing and the plumbing is what is measured. Prints, per N, the driver's peak memory
(its Python process and its JVM heap's old generation, from metrics.json) and the seconds of each stage with their
cost per image, then `driver ratio X.XX`: the larger run's peak over the smaller's, Python RSS plus
JVM old generation. Timings and memory are reported, never asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lakes import current_metrics  # noqa: E402  (bench scripts run from the repository root)

FRUITS = str(Path(sys.executable).parent / "fruits")
CLASSES = 100
STAND_IN = "stand-in: global average pooling + dense to 2048 (8 non-zero), a .keras file given as ResNet50 weights"


def ensure_images(folder: Path, count: int, name: str = "img", marker: Optional[Path] = None) -> None:
    """`count` JPEGs under folder/Training/class_NNN/, one template per class; reused when complete.

    `name` starts each file name, so that two sets can share one folder without clashing. The
    `marker` file (default: folder/.complete-COUNT, which the job lists as a rejected hidden file)
    says the set is complete; give one outside the folder when every row must be an image."""
    marker = marker or folder / f".complete-{count}"
    if marker.exists():
        return
    from PIL import Image

    per_class = -(-count // CLASSES)
    written = 0
    for c in range(CLASSES):
        buffer = io.BytesIO()
        Image.new("RGB", (24, 24), ((c * 37) % 256, (c * 91) % 256, (c * 53) % 256)).save(buffer, "JPEG")
        data = buffer.getvalue()
        target = folder / "Training" / f"class_{c:03d}"
        target.mkdir(parents=True, exist_ok=True)
        for i in range(min(per_class, count - written)):
            with open(target / f"{name}_{i:07d}.jpg", "wb") as file:
                file.write(data)
        written += min(per_class, count - written)
    marker.touch()


def stand_in_model(path: Path) -> Path:
    if path.exists():
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    inputs = keras.Input((224, 224, 3))
    dense = keras.layers.Dense(2048)
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(inputs)))
    kernel = np.zeros((3, 2048), np.float32)
    kernel[:, :8] = np.random.default_rng(0).normal(size=(3, 8))
    dense.set_weights([kernel, np.zeros(2048, np.float32)])
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def run_once(images: Path, output: Path, model: Path, files_per_task: int) -> dict:
    env = {**os.environ, "FRUITS_DRIVER_MEMORY": "1g"}
    args = [FRUITS, "run", "--input", str(images), "--output", str(output), "--weights", str(model),
            "--files-per-partition", str(files_per_task), "--keep-runs", "1", "--batch-size", "256"]
    started = time.time()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"fruits run failed over {images}")
    metrics = current_metrics(output)
    metrics["wall_seconds"] = round(time.time() - started, 1)
    return metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N (two or more)")
    parser.add_argument("--work", type=Path, default=Path("out/bench-scale"))
    parser.add_argument("--files-per-partition", type=int, default=1024)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    model = stand_in_model(args.work / "stand-in.keras")
    print(f"model: {STAND_IN}")
    results = {}
    for n in sizes:
        images = args.work / f"images-{n}"
        started = time.time()
        ensure_images(images, n)
        print(f"N={n:,}: images ready in {time.time() - started:.0f} s")
        output = args.work / f"output-{n}"
        subprocess.run(["rm", "-rf", str(output)], check=True)
        metrics = run_once(images, output, model, args.files_per_partition)
        driver, stages = metrics["driver"], metrics["stage_seconds"]
        results[n] = {"driver": driver, "stage_seconds": stages, "wall_seconds": metrics["wall_seconds"],
                      "counts": {k: metrics["counts"][k] for k in ("listed", "accepted", "rejected")}}
        print(f"N={n:,}: driver Python peak RSS {driver['python_peak_rss_mb']:.0f} MB, JVM old generation peak "
              f"{driver['jvm_old_gen_peak_mb']:.0f} MB of {driver['jvm_heap_max_mb']:.0f} MB; wall {metrics['wall_seconds']:.0f} s")
        print("  stages: " + ", ".join(f"{k} {v:.1f} s ({1e6 * v / n:.0f} us/image)" for k, v in stages.items()))
        subprocess.run(["rm", "-rf", str(output)], check=True)
    small, large = min(sizes), max(sizes)

    def peak(n: int) -> float:
        return results[n]["driver"]["python_peak_rss_mb"] + results[n]["driver"]["jvm_old_gen_peak_mb"]

    ratio = peak(large) / peak(small)
    print(f"driver ratio {ratio:.2f}  (peak at {large:,} / peak at {small:,}; Python RSS + JVM old generation)")
    (args.work / "result.json").write_text(json.dumps({"model": STAND_IN, "runs": results, "driver_ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
