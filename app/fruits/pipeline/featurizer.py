"""CNN features for image bytes, as a batched Spark `mapInArrow` function with one model per Python worker.

Shapes: an Arrow batch of listed files (path, size, modified) -> their bytes, read by the worker
itself many at a time (`fruits.storage.reads.read_files`) -> decoded (n, 224, 224, 3) uint8 ->
the model's preprocessing (`fruits.models.build.preprocessor`) float32 -> ResNet50 without its
top, global average pooling -> (n, 2048) float32; or EfficientNet-Lite0 -> (n, 1280) float32.

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
import time
from collections import deque
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any, Callable, Iterator, Optional

import numpy as np

from fruits.config.job_config import MODEL_DIMS
from fruits.config.schema import RAW_COLUMNS
from fruits.imaging import MAX_PIXELS, Decoded, decode_image
from fruits.models.build import preprocessor
from fruits.models.cache import get_model
from fruits.models.spec import ModelSpec
from fruits.storage.reads import Content, ReadFailure, StoreSpec, read_files
from fruits.storage.retry import RetryCount

log = logging.getLogger(__name__)


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

    def to_arrow(self, batch):
        """A RecordBatch of RAW_COLUMNS: the input batch's path, size and modified, then features and
        error; features is a list array over the float32 block (no per-row conversion)."""
        import pyarrow as pa

        n, dim = self.features.shape
        offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
        failed = pa.array([reason is not None for reason in self.reasons], pa.bool_())
        values = pa.ListArray.from_arrays(offsets, pa.array(self.features.reshape(-1)), mask=failed)
        return pa.RecordBatch.from_arrays([batch.column("path"), batch.column("size"), batch.column("modified"), values,
                                           pa.array(self.reasons, pa.string())], names=list(RAW_COLUMNS))


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


@dataclass(frozen=True)
class Counters:
    """Spark accumulators the UDF adds to, read on the driver for progress logs and metrics."""

    model_builds: Any
    model_calls: Any
    images_done: Any
    decode_seconds: Any
    infer_seconds: Any
    s3_retries: Any  # GETs retried after throttling or a network failure (fruits.storage.retry.with_retries)

    @classmethod
    def create(cls, sc) -> "Counters":
        return cls(sc.accumulator(0), sc.accumulator(0), sc.accumulator(0), sc.accumulator(0.0), sc.accumulator(0.0),
                   sc.accumulator(0))

    def to_dict(self) -> dict:
        return {"model_builds": self.model_builds.value, "model_calls": self.model_calls.value,
                "images_done": self.images_done.value, "s3_retries": self.s3_retries.value,
                "decode_seconds": round(self.decode_seconds.value, 3), "infer_seconds": round(self.infer_seconds.value, 3)}


def make_featurize_function(spec: ModelSpec, store: StoreSpec, batch_size: int, counters: Optional[Counters] = None,
                            max_pixels: int = MAX_PIXELS):
    """A function for `DataFrame.mapInArrow(f, RAW_SCHEMA)` over (path, size, modified) batches: the
    worker reads each batch's files itself (fruits.storage.reads.read_files, many at a time), then decodes
    and featurizes them."""
    dim = MODEL_DIMS[spec.model]

    def count_build() -> None:
        if counters is not None:
            counters.model_builds.add(1)

    def featurize(batches: Iterator) -> Iterator:
        model = get_model(spec, on_build=count_build)
        preprocess = preprocessor(spec.model)
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
            result = featurize_batch(model, images, batch_size, dim, times, preprocess, max_pixels)
            if counters is not None:
                counters.images_done.add(batch.num_rows)
                counters.model_calls.add(times.calls)
                counters.decode_seconds.add(times.decode)
                counters.infer_seconds.add(times.infer)
                counters.s3_retries.add(retries.take())
            yield result.to_arrow(batch)

    return featurize


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
