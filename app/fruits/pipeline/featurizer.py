"""CNN features for image bytes, as a batched Spark `mapInArrow` function with one model per Python worker.

Shapes: an Arrow batch of listed files (path, size, modified) -> their bytes, read by the worker
itself many at a time (`fruits.storage.reads.read_files`) -> decoded (n, 224, 224, 3) uint8 ->
the model's preprocessing in NumPy (`fruits.models.preprocess`) float32 -> ResNet50 without its
top, global average pooling -> (n, 2048) float32; or EfficientNet-Lite0 -> (n, 1280) float32.
The model is the driver's converted .tflite file run by LiteRT (`fruits.models.runtime`): nothing
on this path imports TensorFlow, unless the run chose the tensorflow runtime.

Why a per-worker cache: Spark reuses a Python worker process for many tasks
(`spark.python.worker.reuse`, on by default), so a model kept in a module global survives from one
task to the next, like `pyspark.ml.model_cache` does for `predict_batch_udf`. Building ResNet50 costs
seconds; building it per task (let alone per batch) would cost more than the inference itself. The
cache is a small LRU (`fruits.models.cache`): a worker that serves runs with other models or weights
keeps the latest two, not every model it ever built.
We do not use `predict_batch_udf` because decoding must happen in the same pass, and a file that
fails to decode must come out as a row with a reason rather than a failed task.
Why `mapInArrow` rather than a pandas UDF: the model's (n, dim) output leaves as one Arrow list
array over the same float32 buffer, with no per-row conversion through pandas objects, and the
path travels with its row (no struct column to unpack); docs/decisions.md has the measurement.

Everything a worker needs (the model's spec, the store's spec with its size cap, the pixel cap)
reaches it inside the function's closure, made on the driver: the workers read no setting of their own.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from fruits.config.job_config import MODEL_DIMS
from fruits.config.schema import RAW_COLUMNS
from fruits.imaging import MAX_PIXELS, Decoded, decode_image
from fruits.models.cache import get_model
from fruits.models.preprocess import preprocessor
from fruits.models.spec import ModelSpec
from fruits.storage.reads import Content, ReadFailure, StoreSpec, read_files
from fruits.storage.retry import RetryCount

log = logging.getLogger(__name__)

# A worker process called within this many seconds of its start was forked for the task (its
# imports count); an older one was reused from an earlier task or stage (counted from the call).
FRESH_WORKER_SECONDS = 10.0


@dataclass
class BatchTimes:
    """Seconds spent decoding and in the model, summed over a worker's batches."""

    decode: float = 0.0
    infer: float = 0.0
    calls: int = 0


@dataclass(frozen=True)
class BatchFeatures:
    """One batch's result: `features[i]` is valid where `reasons[i]` is None."""

    features: np.ndarray  # (n, dim) float32; zeros for images that failed to decode
    reasons: list[Optional[str]]

    def to_arrow(self, batch, keep: Optional[tuple[str, ...]] = ("path", "size", "modified"), stats: Optional[dict] = None):
        """A RecordBatch of the input batch's `keep` columns (None: all), then features and the reason
        (RAW_COLUMNS for the job's batches) and the worker's `stats` on the first row; features is a
        list array over the float32 block (no per-row conversion)."""
        import pyarrow as pa

        n, dim = self.features.shape
        offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
        failed = pa.array([reason is not None for reason in self.reasons], pa.bool_())
        values = pa.ListArray.from_arrays(offsets, pa.array(self.features.reshape(-1)), mask=failed)
        names = list(batch.schema.names) if keep is None else list(keep)
        columns = [batch.column(name) for name in names] + [values, pa.array(self.reasons, pa.string())]
        names += list(RAW_COLUMNS[-2:])
        stats = stats or {}
        for name, kind in WORKER_STATS.items():
            value = stats.get(name, 0)
            zero = 0.0 if kind == "double" else 0
            column = np.full(n, zero, dtype=np.float64 if kind == "double" else np.int64)
            if n:
                column[0] = value
            columns.append(pa.array(column))
            names.append(STAT_PREFIX + name)
        return pa.RecordBatch.from_arrays(columns, names=names)


def featurize_batch(model: Any, images: "list[Content]", batch_size: int, dim: int,
                    times: Optional[BatchTimes] = None, preprocess: Optional[Callable] = None,
                    max_pixels: int = MAX_PIXELS) -> BatchFeatures:
    """Decode and featurize one Arrow batch; undecodable images get a reason and no features.

    `preprocess` maps (n, 224, 224, 3) uint8 to the model's float32 input (ResNet50's by
    default); `model` maps that to (n, dim) float32.
    """
    preprocess = preprocess or preprocessor("resnet50")
    times = times if times is not None else BatchTimes()
    start = time.perf_counter()
    decoded = [Decoded(reason=data.reason) if isinstance(data, ReadFailure) else decode_image(data, max_pixels=max_pixels)
               for data in images]
    times.decode += time.perf_counter() - start
    ok = [i for i, d in enumerate(decoded) if d.pixels is not None]
    features = np.zeros((len(images), dim), dtype=np.float32)
    start = time.perf_counter()
    for first in range(0, len(ok), batch_size):
        chunk = ok[first : first + batch_size]
        pixels = np.stack([decoded[i].pixels for i in chunk])
        features[chunk] = np.asarray(model.predict_on_batch(preprocess(pixels)), dtype=np.float32)
        times.calls += 1
    times.infer += time.perf_counter() - start
    return BatchFeatures(features=features, reasons=[d.reason for d in decoded])


# What each worker adds up about its batches, in hidden columns on the first row of each batch:
# summed by an observation of the stage (`worker_totals`), dropped before anything is written.
# Unlike accumulators, this works on a Spark Connect session as on a classic one.
WORKER_STATS = {"model_builds": "bigint", "model_calls": "bigint", "decode_seconds": "double",
                "infer_seconds": "double", "s3_retries": "bigint", "model_ready_seconds": "double",
                "first_result_seconds": "double"}
# Observed as the largest over the workers, not summed: the slowest start of a task to its model
# being ready and to its first result (a batch featurized), counted from the worker process's
# start when the process was forked for the task (its imports included), else from the task's call.
WORKER_MAXIMA = ("model_ready_seconds", "first_result_seconds")
STAT_PREFIX = "_fruits_"
STAT_COLUMNS = tuple(STAT_PREFIX + name for name in WORKER_STATS)


def output_schema(kept):
    """The schema of `make_featurize_function`'s output: the `kept` columns (a DDL string or a
    StructType; the same kind comes back), then `features`, `error` (RAW_SCHEMA's last two) and
    the workers' statistics."""
    if isinstance(kept, str):
        stats = ", ".join(f"{STAT_PREFIX}{name} {kind}" for name, kind in WORKER_STATS.items())
        return f"{kept}, features array<float>, error string, {stats}"
    from pyspark.sql.types import ArrayType, DoubleType, FloatType, LongType, StringType, StructField, StructType

    kinds = {"bigint": LongType(), "double": DoubleType()}
    return StructType([*kept.fields, StructField("features", ArrayType(FloatType())), StructField("error", StringType()),
                       *(StructField(STAT_PREFIX + name, kinds[kind]) for name, kind in WORKER_STATS.items())])


def worker_totals(name: str = "worker"):
    """An observation of a featurized frame (`frame.observe(obs, *worker_sums())`): images and the workers' sums."""
    from pyspark.sql import Observation

    return Observation(name)


def worker_sums() -> list:
    """The aggregate columns `worker_totals` observes: every row is an image; each statistic's sum."""
    from pyspark.sql import functions as F

    return [F.count(F.lit(1)).alias("images_done"),
            *((F.max if name in WORKER_MAXIMA else F.sum)(STAT_PREFIX + name).alias(name) for name in WORKER_STATS)]


def add_wave(totals: dict, observed: dict) -> None:
    """Fold one wave's observed statistics into `totals`: sums add up, WORKER_MAXIMA keep the largest.

    >>> totals = {}
    >>> add_wave(totals, {"model_calls": 3, "first_result_seconds": 1.5})
    >>> add_wave(totals, {"model_calls": 2, "first_result_seconds": 0.5})
    >>> totals
    {'model_calls': 5, 'first_result_seconds': 1.5}
    """
    for name, value in observed.items():
        combine = max if name in WORKER_MAXIMA else (lambda a, b: a + b)
        totals[name] = combine(totals.get(name, 0), value or 0)


def worker_dict(totals: dict) -> dict:
    """metrics.json's `worker` section from the observed sums of one or more waves."""
    out = {name: totals.get(name) or 0 for name in ("model_builds", "model_calls", "images_done", "s3_retries")}
    out.update({name: round(float(totals.get(name) or 0.0), 3)
                for name in ("decode_seconds", "infer_seconds", *WORKER_MAXIMA)})
    return out


def make_featurize_function(spec: ModelSpec, store: StoreSpec, batch_size: int, max_pixels: int = MAX_PIXELS,
                            keep: Optional[tuple[str, ...]] = ("path", "size", "modified")):
    """A function for `DataFrame.mapInArrow(f, output_schema(...))` over batches of rows with `path`
    (and `size`, when known) or the image's bytes in `content`: the worker reads each batch's files
    itself (fruits.storage.reads.read_files, many at a time), then decodes and featurizes them.

    Each output batch holds the input's `keep` columns (None: all of them), the features, the
    reason an image has none, and the worker's statistics (`WORKER_STATS`) on its first row."""
    dim = MODEL_DIMS[spec.model]

    def featurize(batches: Iterator) -> Iterator:
        entered = time.time()
        ready: Optional[float] = None
        first_result: Optional[float] = None
        builds: list[int] = []
        model, preprocess = None, preprocessor(spec.model)
        retries = RetryCount()
        pulled: deque = deque()  # the batches whose files the reader has been given, oldest first
        contents = task_contents(batches, pulled, store, retries)
        while True:
            times = BatchTimes()
            start = time.perf_counter()
            first = next(contents, None)
            if first is None:
                return
            batch = pulled.popleft()
            images = [first, *islice(contents, batch.num_rows - 1)]
            times.decode += time.perf_counter() - start
            if model is None:  # built (or found in the worker's cache) once the task has an image
                model = get_model(spec, on_build=lambda: builds.append(1))
                started = entered
                if builds and entered - process_started() < FRESH_WORKER_SECONDS:
                    started = min(entered, process_started())  # forked for this task: its imports count too
                ready = time.time() - started
            result = featurize_batch(model, images, batch_size, dim, times, preprocess, max_pixels)
            if first_result is None:
                first_result = time.time() - started
            stats = {"model_builds": len(builds), "model_calls": times.calls, "decode_seconds": times.decode,
                     "infer_seconds": times.infer, "s3_retries": retries.take(), "model_ready_seconds": ready,
                     "first_result_seconds": first_result}
            builds.clear()
            yield result.to_arrow(batch, keep, stats)

    return featurize


def process_started() -> float:
    """When this process started, in seconds since the epoch (Linux: /proc; elsewhere: now)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()


def task_contents(batches: Iterator, pulled: deque, store: StoreSpec, retries: RetryCount) -> Iterator[Content]:
    """The bytes of every row of a task's `batches`, in order; each batch joins `pulled` as its rows are asked for.

    Rows from an image pack carry their bytes (`content`). Otherwise one reader serves the whole
    task: while the model works on a batch, the next batch's files are already in flight, so a
    store's latency is paid once per task, not once per batch.
    """
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return iter(())
    batches = chain([first], batches)
    if "content" in first.schema.names:
        return _packed(batches, pulled)

    def files() -> Iterator[tuple[str, int]]:
        for batch in batches:
            if batch.num_rows:
                pulled.append(batch)
                yield from zip(batch.column("path").to_pylist(), batch.column("size").to_pylist(), strict=True)

    return read_files(store, files(), retries=retries)


def _packed(batches: Iterator, pulled: deque) -> Iterator[Content]:
    for batch in batches:
        if batch.num_rows:
            pulled.append(batch)
            yield from (data if data is not None else ReadFailure("no bytes in the image pack")
                        for data in batch.column("content").to_pylist())
