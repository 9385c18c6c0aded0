"""`make bench-s3`: what a cloud object store's latency costs the job's reads, on one machine.

The same N generated images (24x24 JPEGs in 100 classes, as `make bench-scale` makes them) are
featurized three times by `fruits run`: from a local folder; from MinIO through Toxiproxy with no
toxic (the proxy's own cost); and through Toxiproxy with LATENCY_MS added to every response (a
downstream latency toxic: each GET and each listing page arrives that much later, about what an
S3 request costs from a nearby region). Outputs go to local folders, so only the reads cross
the proxy. A fourth run reads the same images from an image pack in the bucket (`fruits pack`,
made fresh through the proxy at +LATENCY_MS, its time reported), also at +LATENCY_MS. Prints, per
source, the list and featurize stage seconds and the featurize rate, then `s3 ratio` (featurize
rate at +LATENCY_MS over the local one: 1.00 means the latency is hidden), `list ratio` (list
seconds at +LATENCY_MS over no latency) and `pack ratio` (the pack's featurize rate at
+LATENCY_MS over the local one). Timings are reported, never asserted; everything lands in
out/bench-s3/result.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
# MinIO and Toxiproxy are started by the same code as in the S3 test tier.
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests"), str(REPO / "tests" / "s3")]
from helpers import free_port  # noqa: E402
from lakes import current_metrics  # noqa: E402
from procfs import process_stats  # noqa: E402
from s3kit import BUCKET, describe, minio_server, run_fruits, s3_client  # noqa: E402
from toxiproxy import Toxiproxy, host_port  # noqa: E402

CLASSES = 100
LATENCY_MS = 20
LABELS = ("local", "s3", f"s3 +{LATENCY_MS} ms", f"pack +{LATENCY_MS} ms")


def generated_images(count: int) -> dict[str, bytes]:
    """Relative key -> JPEG bytes: one 24x24 template per class, names and colours as bench/scale.py.

    Built in memory once so the local folder and the bucket hold the very same bytes.
    """
    from PIL import Image

    templates = []
    for c in range(CLASSES):
        buffer = io.BytesIO()
        Image.new("RGB", (24, 24), ((c * 37) % 256, (c * 91) % 256, (c * 53) % 256)).save(buffer, "JPEG")
        templates.append(buffer.getvalue())
    per_class = -(-count // CLASSES)
    return {f"Training/class_{i // per_class:03d}/img_{i % per_class:07d}.jpg": templates[i // per_class] for i in range(count)}


def write_folder(folder: Path, images: dict[str, bytes]) -> None:
    """The images as files under `folder`; skipped when an earlier bench wrote them all. The marker
    sits beside the folder: inside, the job would list it and reject it as a hidden file."""
    marker = folder.with_name(f"{folder.name}.complete-{len(images)}")
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    for key, data in images.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    marker.touch()


def upload(endpoint: str, prefix: str, images: dict[str, bytes], threads: int) -> int:
    """PUT every image under `prefix`/ (straight to MinIO, not through the proxy); returns how many
    were sent: none when the prefix already holds exactly these keys from an earlier bench."""
    client = s3_client(endpoint, max_pool_connections=threads)
    present = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        present.update(o["Key"] for o in page.get("Contents", []))
    missing = [k for k in images if f"{prefix}/{k}" not in present]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=f"{prefix}/{k}", Body=images[k]), missing))
    return len(missing)


# Their executables; the kernel names a process by the first 15 characters (/proc/PID/comm).
SERVERS = {name[:15]: name for name in ("minio", "toxiproxy-server")}


def servers_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this machine's MinIO and Toxiproxy, by server: they share the job's
    cores here, which a real S3 endpoint does not."""
    totals = dict.fromkeys(SERVERS.values(), 0.0)
    for process in process_stats():
        if process.name in SERVERS:
            totals[SERVERS[process.name]] += process.cpu_seconds
    return totals


def run_job(source: str, output: Path, job_args: list[str], endpoint: str) -> dict[str, Any]:
    """`fruits run` from `source` into a fresh local `output`; the run's metrics, or its error."""
    shutil.rmtree(output, ignore_errors=True)
    started, servers = time.time(), servers_cpu_seconds()
    done = run_fruits("run", "--input", source, "--output", str(output), *job_args, endpoint=endpoint, timeout=4 * 3600)
    wall = round(time.time() - started, 1)
    servers = {name: round(seconds - servers[name], 1) for name, seconds in servers_cpu_seconds().items()}
    if done.returncode != 0:
        return {"source": source, "error": describe(done), "wall_seconds": wall}
    metrics = current_metrics(output)
    return {
        "source": source,
        "wall_seconds": wall,
        "stage_seconds": metrics["stage_seconds"],
        "images_per_second": metrics["images_per_second"],
        "counts": {k: metrics["counts"][k] for k in ("listed", "accepted", "rejected")},
        "s3_retries": metrics.get("s3_retries"),
        "worker_seconds": metrics.get("worker_seconds"),
        "servers_cpu_seconds": servers,
    }


def make_pack(minio_endpoint: str, source: str, pack: str, endpoint: str) -> dict[str, Any]:
    """A fresh `fruits pack` of `source` into `pack` (its objects removed first, straight on MinIO)."""
    client = s3_client(minio_endpoint)
    prefix = pack.split("/", 3)[3] + "/"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    started = time.time()
    done = run_fruits("pack", "--input", source, "--output", pack, endpoint=endpoint, timeout=4 * 3600)
    wall = round(time.time() - started, 1)
    if done.returncode != 0:
        return {"source": pack, "error": describe(done), "wall_seconds": wall, "line": f"pack FAILED after {wall:.0f} s"}
    return {"wall_seconds": wall, "line": f"packed {source} into {pack} in {wall:.1f} s at +{LATENCY_MS} ms (once; later runs reuse it)"}


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    return round(numerator / denominator, 3) if numerator and denominator else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--weights", help="default: imagenet for efficientnet-lite0 (a dependency; its random weights give "
                                          "every image the same features, which PCA refuses), random for resnet50")
    parser.add_argument("--upload-threads", type=int, default=32)
    parser.add_argument("--work", type=Path, default=REPO / "out" / "bench-s3")
    args = parser.parse_args()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    weights = args.weights or ("imagenet" if args.model == "efficientnet-lite0" else "random")
    job_args = ["--model", args.model, "--precision", args.precision, "--weights", weights, "--keep-runs", "1"]
    print(f"bench-s3: {args.images:,} images, {args.model} {args.precision}, {weights} weights; +{LATENCY_MS} ms on every S3 response")

    started = time.time()
    images = generated_images(args.images)
    folder = work / f"images-{args.images}"
    write_folder(folder, images)
    (work / "minio-data").mkdir(exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    with minio_server(work / "minio-data", work / "minio.log", free_port(), free_port()) as minio, \
            Toxiproxy.start(work / "toxiproxy.log") as toxiproxy:
        prefix = f"images-{args.images}"
        sent = upload(minio.endpoint, prefix, images, args.upload_threads)
        print(f"images ready in {time.time() - started:.0f} s: {os.path.relpath(folder)} and s3a://{BUCKET}/{prefix}/ ({sent:,} uploaded now)")
        proxy = toxiproxy.create_proxy("minio", host_port(minio.endpoint))
        pack = f"s3a://{BUCKET}/pack-{args.images}"
        sources = {LABELS[0]: str(folder), LABELS[1]: f"s3a://{BUCKET}/{prefix}", LABELS[2]: f"s3a://{BUCKET}/{prefix}",
                   LABELS[3]: pack}
        for label, source in sources.items():
            output = work / f"output-{label.replace(' ', '').replace('+', '-')}"
            if label == LABELS[3]:
                with proxy.latency(LATENCY_MS):
                    packing = make_pack(minio.endpoint, sources[LABELS[1]], pack, proxy.endpoint)
                print(packing["line"])
                if "error" in packing:
                    runs[label] = packing
                    continue
            if label in LABELS[2:]:
                with proxy.latency(LATENCY_MS):
                    runs[label] = run_job(source, output, job_args, proxy.endpoint)
            else:
                runs[label] = run_job(source, output, job_args, proxy.endpoint)
            if label == LABELS[3]:
                runs[label]["pack_seconds"] = packing["wall_seconds"]
            report(label, runs[label])

    def stage(label: str, name: str) -> Optional[float]:
        return runs[label].get("stage_seconds", {}).get(name)

    s3_ratio = ratio(runs[LABELS[2]].get("images_per_second"), runs[LABELS[0]].get("images_per_second"))
    list_ratio = ratio(stage(LABELS[2], "list"), stage(LABELS[1], "list"))
    pack_ratio = ratio(runs[LABELS[3]].get("images_per_second"), runs[LABELS[0]].get("images_per_second"))
    print(f"s3 ratio {s3_ratio:.2f}  (featurize images/s at +{LATENCY_MS} ms / from local files)" if s3_ratio else "s3 ratio n/a")
    print(f"list ratio {list_ratio:.2f}  (list seconds at +{LATENCY_MS} ms / with no latency)" if list_ratio else "list ratio n/a")
    print(f"pack ratio {pack_ratio:.2f}  (featurize images/s from the pack at +{LATENCY_MS} ms / from local files)"
          if pack_ratio else "pack ratio n/a")
    result = {"images": args.images, "model": args.model, "precision": args.precision, "weights": weights, "latency_ms": LATENCY_MS,
              "job_args": job_args, "runs": runs, "s3_ratio": s3_ratio, "list_ratio": list_ratio, "pack_ratio": pack_ratio}
    (work / "result.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {os.path.relpath(work / 'result.json')}")
    return 1 if any("error" in r for r in runs.values()) else 0


def report(label: str, run: dict[str, Any]) -> None:
    if "error" in run:
        print(f"{label:<11} FAILED after {run['wall_seconds']:.0f} s\n{run['error']}")
        return
    stages, retries = run["stage_seconds"], run.get("s3_retries") or {}
    print(f"{label:<11} list {stages.get('list', 0):7.1f} s   featurize {stages.get('featurize', 0):7.1f} s   "
          f"{run['images_per_second']:7.1f} images/s   (wall {run['wall_seconds']:.0f} s, "
          f"accepted {run['counts']['accepted']:,}, S3 retries {sum(v or 0 for v in retries.values())}, "
          f"CPU seconds of {', '.join(f'{name} {seconds:.1f}' for name, seconds in run['servers_cpu_seconds'].items())})")


if __name__ == "__main__":
    sys.exit(main())
