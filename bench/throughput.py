"""`make bench`: how close the full job gets to the speed of its model itself, in one run.

(a) ceiling: `bench/ceiling.py`, the model alone over pre-decoded images, one process using
    every core, run by the runtime the job uses (`--runtime`, default litert: the converted
    .tflite file, fp32 or int8), so that the ratio compares like with like;
(t) today's ceiling: the same with TensorFlow, a Keras predict_on_batch loop (fp32) or the model
    quantized to TFLite and run by `tf.lite` (int8);
(b) the job: `fruits run --model M --precision P` (local[*], every core) from JPEG files to a
    committed Parquet table, its workers on that runtime (FRUITS_MODEL_RUNTIME).
All on the same generated images, the same weights (random for ResNet50, ImageNet for Lite0,
whose random weights the PCA refuses) and batch size. Prints the rates, the ratio b/a (the
job's whole run over its runtime's ceiling), `speedup vs tensorflow` (b over t), the job's
featurize-stage rate, its per-stage split, the workers' time to their first result, the peak RSS
of the Python workers and of the JVM, a projection for Fruits-360, and writes everything to a
JSON file. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
FRUITS = str(Path(sys.executable).parent / "fruits")
sys.path.insert(0, str(HERE))
from ceiling import MODELS, PRECISIONS, weights_for  # noqa: E402  (bench scripts run from the repository root)
from lakes import current_metrics  # noqa: E402
from procfs import process_stats  # noqa: E402


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for process in process_stats():
        children.setdefault(process.ppid, []).append(process.pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rss_mb(pid: int) -> tuple[str, float]:
    try:
        cmdline = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace")
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return cmdline, int(line.split()[1]) / 1024
    except OSError:
        pass
    return "", 0.0


class PeakRss:
    """Polls a process tree; keeps the peak RSS of the JVM and of each Python worker."""

    def __init__(self, root: int, every: float = 0.5):
        self.root, self.every = root, every
        self.jvm = 0.0
        self.workers: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for pid in descendants(self.root):
                cmdline, rss = rss_mb(pid)
                if "java" in cmdline.split(" ")[0]:
                    self.jvm = max(self.jvm, rss)
                elif "pyspark.daemon" in cmdline or "pyspark/daemon" in cmdline:
                    self.workers[pid] = max(self.workers.get(pid, 0.0), rss)


def ensure_images(folder: Path, count: int) -> int:
    from fruits.sample import generate_sample

    if not (folder / "Training").is_dir():
        generate_sample(folder, classes=10, per_class=max(2, count // 10), seed=1)
    return sum(1 for _ in folder.rglob("*.jpg"))


FRUITS_360_IMAGES = 90_483


def projection(images: int, stage_seconds: dict, pca_result: Optional[Path]) -> dict:
    """Fruits-360 on this machine, and with E such machines as executors, from this run's rates.

    Featurize scales with the images and divides by the executors. List, reduce and write are
    scaled linearly from this run and not divided (pessimistic), except that the PCA fit comes
    from `make bench-pca` (90,000 x 2048) when its result exists. int8's quantize stage is once
    per run whatever the input: added as measured.
    """
    scale = FRUITS_360_IMAGES / images
    featurize = stage_seconds["featurize"] * scale
    pca_measured = bool(pca_result and pca_result.exists())
    reduce = stage_seconds.get("reduce", 0.0) * scale
    if pca_measured:
        reduce = json.loads(pca_result.read_text())["seconds"]["fit_scaler_and_pca"]
    rest = (stage_seconds.get("list", 0.0) + stage_seconds.get("write", 0.0)) * scale + reduce
    quantize = stage_seconds.get("quantize", 0.0)
    rest += quantize
    return {
        "images": FRUITS_360_IMAGES,
        "featurize_seconds_one_machine": round(featurize),
        "other_seconds": round(rest),
        "quantize_seconds": round(quantize),
        "pca_from_bench_pca": pca_measured,
        "minutes_by_executors": {e: round((featurize / e + rest) / 60, 1) for e in (1, 2, 4, 8)},
    }


def result_path(work: Path, model: str, precision: str) -> Path:
    """Where a run's result goes: result.json for the defaults (as before), else one file per
    model and precision, so that an fp32 and an int8 result sit side by side."""
    if (model, precision) == ("resnet50", "fp32"):
        return work / "result.json"
    return work / f"result-{model}-{precision}.json"


def print_projection(p: dict, label: str) -> None:
    print(f"projection:  {label}: Fruits-360 ({p['images']:,} images), minutes with 1/2/4/8 executors like this "
          "machine: " + " / ".join(f"{m:.0f}" for m in p["minutes_by_executors"].values())
          + f" (featurize {p['featurize_seconds_one_machine']} s on one, then {p['other_seconds']} s list + PCA + write"
          + (" + quantize" if p.get("quantize_seconds") else "") + ")")


# Today's runtime for each precision, as bench/ceiling.py --runtime names it.
TENSORFLOW_RUNTIME = {"fp32": "tensorflow", "int8": "tflite"}


def measure_ceiling(images: Path, args: argparse.Namespace, runtime: str) -> dict:
    """bench/ceiling.py's JSON line for the model run by `runtime`, in its fastest layout."""
    done = subprocess.run(
        [sys.executable, str(HERE / "ceiling.py"), "--runtime", runtime, "--images", str(images),
         "--batch-size", str(args.batch_size), "--model", args.model, "--precision", args.precision],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if done.returncode != 0:
        raise SystemExit(f"ceiling ({runtime}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", choices=MODELS, default="resnet50")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--runtime", choices=("litert", "tensorflow"), default="litert",
                        help="what runs the model on the job's workers (FRUITS_MODEL_RUNTIME)")
    parser.add_argument("--work", type=Path, default=Path("out/bench"))
    parser.add_argument("--result", type=Path, help="default: out/bench/result.json for resnet50 fp32, "
                        "else out/bench/result-MODEL-PRECISION.json")
    parser.add_argument("--pca-result", type=Path, default=Path("out/bench-pca/result.json"),
                        help="make bench-pca's result, used for the PCA part of the projection")
    args = parser.parse_args()
    args.result = args.result or result_path(args.work, args.model, args.precision)
    images_dir = args.work / f"images-{args.images}"
    n = ensure_images(images_dir, args.images)
    weights = weights_for(args.model)
    print(f"bench: {n} JPEGs in {images_dir}, {args.model} {args.precision} ({weights} weights), "
          f"batch {args.batch_size}, {os.cpu_count()} cores", flush=True)

    today = measure_ceiling(images_dir, args, TENSORFLOW_RUNTIME[args.precision])
    ceiling = today if args.runtime == "tensorflow" else measure_ceiling(images_dir, args, args.runtime)
    today_engine = "TFLite int8" if args.precision == "int8" else "Keras fp32"
    print(f"(a) ceiling: {ceiling['images_per_second']:.1f} images/s ({args.runtime} {args.precision}, the job's runtime; "
          f"model calls only, {ceiling.get('layout', ceiling['threads'])})", flush=True)
    print(f"(t) today:   {today['images_per_second']:.1f} images/s ({today_engine}, the same way, "
          f"{today.get('layout', today['threads'])})", flush=True)

    output = args.work / "lake"
    # The job's defaults (PCA to 90% of the variance, files per partition...), the ceiling's weights.
    command = [FRUITS, "run", "--input", str(images_dir), "--output", str(output), "--weights", weights,
               "--model", args.model, "--precision", args.precision, "--batch-size", str(args.batch_size)]
    started = time.perf_counter()
    job_env = {**os.environ, "FRUITS_MODEL_RUNTIME": args.runtime}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=job_env) as job, \
            PeakRss(job.pid) as peak:
        log, _ = job.communicate()
    wall = time.perf_counter() - started
    if job.returncode != 0:
        print(log[-4000:], file=sys.stderr)
        return 1
    metrics = current_metrics(output)
    job_seconds = metrics["total_seconds"]
    job_rate = n / job_seconds
    featurize_rate = metrics["images_per_second"]
    result = {
        "images": n, "batch_size": args.batch_size, "cores": os.cpu_count(),
        "model": args.model, "precision": args.precision, "weights": weights,
        "runtime": args.runtime, "ceiling": ceiling, "ceiling_tensorflow": today,
        "job": {"images_per_second": job_rate, "featurize_images_per_second": featurize_rate,
                "seconds_files_to_commit": job_seconds,
                "seconds_with_spark_start": round(wall, 3), "stage_seconds": metrics["stage_seconds"],
                "worker_seconds": metrics["worker_seconds"], "model_builds": metrics["model_builds"]},
        "ratio_job_to_ceiling": job_rate / ceiling["images_per_second"],
        "ratio_featurize_to_ceiling": featurize_rate / ceiling["images_per_second"],
        "speedup_vs_tensorflow": job_rate / today["images_per_second"],
        "speedup_vs_tensorflow_featurize": featurize_rate / today["images_per_second"],
        "worker_start_seconds": metrics.get("worker_start_seconds"),
        "model_file": metrics.get("model_file"),
        "peak_rss_mb": {"jvm": round(peak.jvm), "python_worker_max": round(max(peak.workers.values(), default=0)),
                        "python_workers_seen": len(peak.workers)},
    }
    result["projection_fruits_360"] = projection(n, metrics["stage_seconds"], args.pca_result)
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    print(f"(b) job:     {job_rate:.1f} images/s over the whole run ({n} images / total_seconds {job_seconds:.1f} s, "
          f"files -> committed Parquet; {wall:.1f} s with Spark start)")
    print(f"             {featurize_rate:.1f} images/s over the featurize stage alone "
          f"(metrics.json images_per_second, {metrics['stage_seconds'].get('featurize', 0.0):.1f} s)")
    print(f"ratio b/a:   {result['ratio_job_to_ceiling']:.2f}  (whole run; featurize stage alone: "
          f"{result['ratio_featurize_to_ceiling']:.2f})")
    print(f"speedup vs tensorflow {result['speedup_vs_tensorflow']:.2f}  (the job's whole run over today's "
          f"{today_engine} ceiling; featurize stage alone: {result['speedup_vs_tensorflow_featurize']:.2f})")
    start = result["worker_start_seconds"] or {}
    print(f"worker start: model ready {start.get('model_ready', 0.0):.2f} s, first result (a batch of "
          f"{args.batch_size}) {start.get('first_result', 0.0):.2f} s after a cold worker's start (the slowest task)")
    print("stages (s):  " + ", ".join(f"{k} {v:.1f}" for k, v in metrics["stage_seconds"].items()))
    print("in workers:  " + ", ".join(f"{k} {v:.1f} s" for k, v in metrics["worker_seconds"].items()))
    print(f"peak RSS:    JVM {peak.jvm:.0f} MB, largest Python worker {max(peak.workers.values(), default=0):.0f} MB "
          f"({len(peak.workers)} workers)")
    print_projection(result["projection_fruits_360"], f"{args.model} {args.precision}")
    # The other precision's projection, from its own earlier run on this machine when there is one.
    other = "fp32" if args.precision == "int8" else "int8"
    earlier = result_path(args.work, args.model, other)
    if earlier.exists():
        stored = json.loads(earlier.read_text())
        if stored.get("images") == n:
            print_projection(stored["projection_fruits_360"], f"{args.model} {other}")
            print(f"             (that line from {earlier}, an earlier run; `make bench PRECISION={other}` refreshes it)")
    print(f"result:      {args.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
