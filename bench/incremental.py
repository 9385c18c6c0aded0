"""`make bench-incremental`: what adding a few images to a large lake costs, against those images alone.

A lake of ROWS images (90,000 by default, about Fruits-360) is built by hand, with no model run:
ROWS generated 24x24 JPEGs in 100 classes (as `make bench-scale` makes them), and a committed run
whose rows match those files exactly (path, size, modification time, label, split) with random
2048-d features, their PCA (`fruits.pipeline.pca.fit_reduce`, k=PCA_K), an empty rejected table, the
fitted model, metrics.json, the picture and the marker, committed as the tables' first snapshot:
what `fruits run --weights random` would have left, features aside. NEW more images (900) are generated aside. Then, one run:

(a) incremental: the NEW images copied into the input, `fruits run --incremental --reuse-model`:
    lists ROWS + NEW files, featurizes the NEW ones and projects them with the stored model; the
    previous snapshot's files, whose rows all stay, stay in the new snapshot as they are;
(b) alone: `fruits run` over a folder holding only the NEW images (fits its own PCA).

Both with random ResNet50 weights and `--pca-k PCA_K`. Prints both runs' total and wall seconds
and stage seconds, then `ratio X.XX` = (a)'s total_seconds / (b)'s: how many times the cost of
the new images themselves an incremental run takes. Target: at most 3; reported, never asserted.
Writes out/bench-incremental/result.json. The lake is reused by later invocations (the copies
are removed and the lake set back to its hand-made run after each one, from a copy whose data
files are hard links).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lakes import current_metrics  # noqa: E402  (bench scripts run from the repository root)
from scale import CLASSES, ensure_images  # noqa: E402

FRUITS = str(Path(sys.executable).parent / "fruits")
DIM = 2048
SEED = 42
CHUNK_ROWS = 8192
NEW_NAME = "new"


def image_rows(folder: Path) -> Iterator[tuple[str, str, str, int, int]]:
    """(path, label, split, size, modified) of every file under `folder`, as the job's listing and
    `with_labels` give them: the path as `fruits.inputs.entry_rules.local_uri` writes it, from the absolute
    path the job starts from (not resolved: links stay as given), modified in epoch milliseconds."""
    from fruits.storage.local import local_uri

    top = os.path.abspath(os.fsencode(str(folder)))
    for split in sorted(os.listdir(top)):
        for label in sorted(os.listdir(os.path.join(top, split))):
            with os.scandir(os.path.join(top, split, label)) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    info = entry.stat(follow_symlinks=False)
                    yield (local_uri(entry.path), os.fsdecode(label), os.fsdecode(split), int(info.st_size),
                           int(info.st_mtime_ns // 1_000_000))


def write_generated_features(rows: list[tuple], staging: Path) -> None:
    """Parquet files of FEATURE_COLUMNS for `rows`, features drawn at random around one centre per
    class (so the picture shows classes), written in chunks: memory stays at one chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    centres = rng.normal(size=(CLASSES, DIM)).astype(np.float32)
    labels = sorted({r[1] for r in rows})
    index = {label: i % CLASSES for i, label in enumerate(labels)}
    staging.mkdir(parents=True, exist_ok=True)
    for part, first in enumerate(range(0, len(rows), CHUNK_ROWS)):
        chunk = rows[first : first + CHUNK_ROWS]
        features = centres[[index[r[1]] for r in chunk]] + rng.normal(size=(len(chunk), DIM)).astype(np.float32)
        offsets = pa.array(np.arange(0, (len(chunk) + 1) * DIM, DIM, dtype=np.int32))
        columns = [pa.array([r[i] for r in chunk], t) for i, t in enumerate((pa.string(), pa.string(), pa.string(),
                                                                            pa.int64(), pa.int64()))]
        columns.append(pa.ListArray.from_arrays(offsets, pa.array(features.reshape(-1))))
        table = pa.Table.from_arrays(columns, names=["path", "label", "split", "size", "modified", "features"])
        pq.write_table(table, staging / f"part-{part:05d}.parquet")


def build_lake(images: Path, lake: Path, staging: Path, pca_k: int) -> str:
    """Write and commit the hand-made run over `images` into `lake`; returns its run id."""
    from fruits.config.catalog import CatalogSettings
    from fruits.config.job_config import JobConfig
    from fruits.config.layout import FEATURES, MARKER, METRICS, MODEL, PICTURE, REJECTED, RunLocation, new_run_id
    from fruits.config.schema import LISTING_COLUMNS, LISTING_SCHEMA, REJECTED_COLUMNS, TABLE_COLUMNS
    from fruits.models.weights import resolve_weights
    from fruits.pipeline.pca import fit_reduce, project
    from fruits.pipeline.run import run_settings
    from fruits.pipeline.summary import picture_points
    from fruits.report.pictures import pca_title, plot_pca_2d
    from fruits.report.text import metrics_json
    from fruits.spark.session import build_session
    from fruits.table.lake import Lake

    rows = list(image_rows(images))
    shutil.rmtree(staging, ignore_errors=True)
    write_generated_features(rows, staging)
    config = JobConfig(input_uri=str(images), output_uri=str(lake), weights="random", pca_k=pca_k, pca_variance=None,
                       seed=SEED)
    weights = resolve_weights(config.weights, config.model)
    spark = build_session(config, app_name="bench-incremental-lake")
    try:
        store = Lake(spark, config.output_uri, CatalogSettings())
        store.begin()
        run = RunLocation(store.output, new_run_id())
        store.mark_run(run, run_settings(config, weights))
        generated = spark.read.parquet(str(staging.resolve()))
        model, pca = fit_reduce(generated, DIM, pca_k, None, run[MODEL])
        project(model, generated).select(*TABLE_COLUMNS).write.parquet(store.data_folder(FEATURES, run.run_id))
        # The rejected table has the listing's columns and types (path, size, modified, reason).
        assert LISTING_COLUMNS == REJECTED_COLUMNS
        spark.createDataFrame([], LISTING_SCHEMA).coalesce(1).write.parquet(store.data_folder(REJECTED, run.run_id))
        written = spark.read.parquet(store.data_folder(FEATURES, run.run_id))
        accepted = written.count()
        points, labels = picture_points(written, SEED)
        metrics = {
            "run_id": run.run_id, "input": config.input_uri, "output": store.output, "run_path": run.root,
            "format": "parquet", "model": config.model, "feature_dim": DIM, "precision": {"mode": "fp32"},
            "weights": weights.to_dict(),
            "settings": {"batch_size": config.batch_size, "files_per_partition": config.files_per_partition,
                         "limit": None, "seed": config.seed, "incremental": False},
            "counts": {"listed": len(rows), "images": len(rows), "accepted": accepted,
                       "rejected": 0, "consistent": accepted == len(rows)},
            "incremental": {"new": len(rows), "reused": 0, "changed": 0, "removed": 0, "previous_run": None,
                            "reused_model": False},
            "pca": pca.to_dict(),
            "generated": "bench/incremental.py: random features, no model run",
        }
        with tempfile.TemporaryDirectory() as tmp:
            title = pca_title(weights.kind, pca.explained_variance)
            store.files.upload(plot_pca_2d(points, labels, title, Path(tmp) / PICTURE), run[PICTURE])
        store.files.write_text(run[METRICS], metrics_json(metrics))
        store.commit(run, run.run_id, {"fruits.generated": "bench/incremental.py"}, artifacts=(MODEL, METRICS, PICTURE, MARKER))
        return run.run_id
    finally:
        spark.stop()
        shutil.rmtree(staging, ignore_errors=True)


def pristine(lake: Path) -> Path:
    return lake.with_name(lake.name + "-pristine")


def keep_pristine(lake: Path) -> None:
    """A copy of the hand-made lake to set it back from: data files hard-linked, the rest (the
    catalog, metadata, which commits change in place or beside) copied."""
    shutil.rmtree(pristine(lake), ignore_errors=True)
    shutil.copytree(lake, pristine(lake), copy_function=link_or_copy)


def link_or_copy(source: str, target: str) -> None:
    if source.endswith(".parquet"):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def reset_lake(lake: Path, run_id: str) -> bool:
    """Make the hand-made run `run_id` the lake's only run again; False when its copy is gone."""
    if not (pristine(lake) / "runs" / run_id).is_dir():
        return False
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(pristine(lake), lake, copy_function=link_or_copy)
    return True


def remove_new_images(images: Path) -> None:
    """Delete the NEW images an earlier invocation copied into the input, so it matches the lake."""
    for path in images.glob(f"*/*/{NEW_NAME}_*.jpg"):
        path.unlink()


def fruits_run(arguments: list[str]) -> dict:
    """`fruits run` with `arguments`; its metrics.json, with the wall seconds added."""
    output = Path(arguments[arguments.index("--output") + 1])
    started = time.perf_counter()
    done = subprocess.run([FRUITS, "run", *arguments], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"fruits run {' '.join(arguments)} failed (exit {done.returncode})")
    metrics = current_metrics(output)
    metrics["wall_seconds"] = round(wall, 1)
    return metrics


def summary(metrics: dict) -> dict:
    return {"total_seconds": metrics["total_seconds"], "wall_seconds": metrics["wall_seconds"],
            "stage_seconds": metrics["stage_seconds"], "counts": {k: metrics["counts"][k] for k in ("listed", "images",
                                                                                                   "accepted", "rejected")},
            "incremental": metrics.get("incremental")}


def show(name: str, metrics: dict) -> None:
    print(f"{name}: total_seconds {metrics['total_seconds']:.1f} s (wall {metrics['wall_seconds']:.1f} s with Spark start); "
          f"{metrics['counts']['listed']:,} listed, {metrics['counts']['images']:,} featurized")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in metrics["stage_seconds"].items()), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=90_000, help="images in the hand-made lake")
    parser.add_argument("--new", type=int, default=900, help="images added to it")
    parser.add_argument("--pca-k", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path("out/bench-incremental"))
    args = parser.parse_args()
    work = args.work
    images, new = work / f"images-{args.rows}", work / f"new-{args.new}"
    lake, alone = work / f"lake-{args.rows}", work / f"alone-{args.new}"
    state = work / f"lake-{args.rows}.json"

    started = time.perf_counter()
    ensure_images(images, args.rows, marker=work / f".images-{args.rows}.complete")
    ensure_images(new, args.new, name=NEW_NAME, marker=work / f".new-{args.new}.complete")
    remove_new_images(images)
    print(f"images: {args.rows:,} in {images}, {args.new:,} new in {new} ({time.perf_counter() - started:.0f} s)", flush=True)

    recorded = json.loads(state.read_text()) if state.exists() else {}
    if recorded.get("pca_k") != args.pca_k or not reset_lake(lake, recorded.get("run_id", "-")):
        started = time.perf_counter()
        shutil.rmtree(lake, ignore_errors=True)
        run_id = build_lake(images, lake, work / "staging", args.pca_k)
        keep_pristine(lake)
        state.write_text(json.dumps({"run_id": run_id, "rows": args.rows, "pca_k": args.pca_k}) + "\n")
        print(f"lake: run {run_id} built by hand in {time.perf_counter() - started:.0f} s "
              f"({args.rows:,} rows, random {DIM}-d features, PCA k={args.pca_k})", flush=True)
    else:
        print(f"lake: run {recorded['run_id']} from an earlier invocation, reused", flush=True)

    common = ["--weights", "random", "--pca-k", str(args.pca_k)]
    try:
        for source in sorted(new.rglob("*.jpg")):
            target = images / source.relative_to(new)
            shutil.copyfile(source, target)
        incremental = fruits_run(["--input", str(images), "--output", str(lake), "--incremental", "--reuse-model", *common])
    finally:
        remove_new_images(images)
        reset_lake(lake, json.loads(state.read_text())["run_id"])
    show(f"(a) incremental ({args.rows:,} + {args.new:,})", incremental)
    shutil.rmtree(alone, ignore_errors=True)
    by_itself = fruits_run(["--input", str(new), "--output", str(alone), *common])
    show(f"(b) the {args.new:,} alone", by_itself)

    ratio = incremental["total_seconds"] / by_itself["total_seconds"]
    print(f"ratio {ratio:.2f}  (incremental total_seconds / the new images alone; target: at most 3; "
          f"wall seconds: {incremental['wall_seconds'] / by_itself['wall_seconds']:.2f})")
    result = {"rows": args.rows, "new": args.new, "pca_k": args.pca_k, "cores": os.cpu_count(),
              "incremental": summary(incremental), "alone": summary(by_itself), "ratio": ratio,
              "ratio_wall": incremental["wall_seconds"] / by_itself["wall_seconds"]}
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {work / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
