"""The quantize stage of an int8 run: the fp32 model quantized once and calibrated on a seeded sample
of the run's own images (fruits.models.quantize), or the model an earlier run of the lake made.

Only the sample reaches the driver (at most CALIBRATION_IMAGES + CHECK_IMAGES images, read by the
driver itself), never the listing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from fruits.config.layout import INT8
from fruits.errors import JobError
from fruits.imaging import MAX_PIXELS, decode_image
from fruits.models.build import preprocessor
from fruits.models.quantize import CALIBRATION_IMAGES, CHECK_IMAGES, Fp32Prebuild, QuantizationReport, prepare_int8
from fruits.models.spec import ModelSpec
from fruits.pipeline.run import Run
from fruits.spark.portable import ship_file
from fruits.storage.reads import StoreSpec, read_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def int8_model(r: Run, spec: ModelSpec, images: DataFrame) -> tuple[str, dict]:
    """This run's int8 model, shipped to the executors: its own (a resumed run), the previous run's
    (--incremental, --reuse-model: features stay comparable across runs), or a new one calibrated
    on a sample of `images`. Kept in the run folder either way, for the runs that follow."""
    name = r.int8_name
    folder = Path(tempfile.mkdtemp(prefix="fruits-int8-"))
    found = r.stored_int8
    if found is not None:
        r.lake.files.download(f"{found[INT8]}/{name}", folder / name)
        report = json.loads(r.lake.files.read_text(f"{found[INT8]}/report.json"))
        if found is not r.run:
            report["reused_from"] = report.get("reused_from") or found.run_id
            log.info("int8: reusing the model of run %s (calibrated once, so features stay comparable)", found.run_id)
    else:
        with r.timer("quantize"):
            prebuild, r.prebuild = r.prebuild, None  # the fp32 model is not needed after this stage
            try:
                report = quantize_for_run(spec, images, r.store, folder / name, prebuild, r.config.settings.max_pixels).to_dict()
            except ValueError as exc:
                raise JobError(str(exc)) from exc
    if found is not r.run:
        r.lake.files.upload(folder / name, f"{r.run[INT8]}/{name}")
        r.lake.files.write_text(f"{r.run[INT8]}/report.json", json.dumps(report))
    # Shipped under a name that says its content: Spark keeps every file added to a session and
    # refuses a second file of the same name with other bytes (a later int8 run in one session).
    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
    shipped = folder / f"{spec.model}-int8-{digest}.tflite"
    (folder / name).rename(shipped)
    return ship_file(r.spark, str(shipped)), report


def sample_pixels(images: DataFrame, store: StoreSpec, seed: int, count: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decoded pixels of a seeded random sample of at most `count` images (a DataFrame with path and
    size, and `content` when they come from an image pack): only the sample reaches the driver, and
    the driver reads just those files."""
    from pyspark.sql import functions as F

    packed = "content" in images.columns
    chosen = images.select("path", "size", *(["content"] if packed else [])).orderBy(F.rand(seed)).limit(count).collect()
    contents = [r.content for r in chosen] if packed else read_files(store, [(r.path, int(r.size)) for r in chosen])
    decoded = [decode_image(bytes(data), max_pixels=max_pixels) for data in contents if isinstance(data, (bytes, bytearray))]
    pixels = [d.pixels for d in decoded if d.pixels is not None]
    return np.stack(pixels) if pixels else np.zeros((0, 224, 224, 3), np.uint8)


def quantize_for_run(spec: ModelSpec, images: DataFrame, store: StoreSpec, destination: Path,
                     prebuild: Optional[Fp32Prebuild] = None, max_pixels: int = MAX_PIXELS) -> QuantizationReport:
    """Quantize the fp32 model (`prebuild`'s, else built now on the driver) to int8 into
    `destination`, calibrated on a seeded sample of `images`; raises ValueError when too few of
    them decode."""
    prebuild = prebuild or Fp32Prebuild(spec)
    try:
        pixels = sample_pixels(images, store, spec.seed, CALIBRATION_IMAGES + CHECK_IMAGES, max_pixels)
        fp32 = prebuild.take()
        return prepare_int8(fp32.model, preprocessor(spec.model), pixels, destination, os.cpu_count() or 1,
                            fp32.saved_model)
    finally:
        prebuild.close()
