"""The converted model a run's workers use, made on the driver: fp32 converted as it is, int8
quantized and calibrated on a seeded sample of the run's own images (fruits.models.quantize), or
the one an earlier run made, found in the run folders (int8 reuse) or the output's converted
models (fruits.pipeline.converted), checked by its sha256.

Only the sample reaches the driver (at most CALIBRATION_IMAGES + CHECK_IMAGES images, read by the
driver itself), never the listing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from fruits.config.layout import CONVERTED_FILE, INT8
from fruits.errors import JobError
from fruits.imaging import MAX_PIXELS, decode_image
from fruits.models.convert import convert_to_tflite
from fruits.models.preprocess import preprocessor
from fruits.models.quantize import CALIBRATION_IMAGES, CHECK_IMAGES, Fp32Prebuild, QuantizationReport, prepare_int8
from fruits.models.spec import ModelSpec
from fruits.models.weights import sha256_file
from fruits.pipeline.converted import ConvertedStore, model_key
from fruits.pipeline.run import Run
from fruits.spark.portable import ship_file
from fruits.storage.reads import StoreSpec, read_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def fp32_model(r: Run, spec: ModelSpec) -> tuple[str, dict]:
    """The fp32 model converted to .tflite for `spec`, shipped to the executors, and what
    metrics.json says of it: the output's stored one when a run made it before (checked), else
    converted now and stored for later runs."""
    key = model_key(spec, "fp32")
    local = Path(tempfile.mkdtemp(prefix="fruits-fp32-")) / CONVERTED_FILE
    manifest = r.converted.find(key, local) if key is not None else None
    about: dict = {"runtime": spec.runtime, "converted": manifest is None}
    if manifest is not None:
        log.info("fp32: the converted model an earlier run made (%s), checked by its sha256", r.converted.folder(key))
    else:
        prebuild, r.prebuild = r.prebuild, None
        about["convert_seconds"] = round(convert_fp32(spec, local, prebuild), 1)
        log.info("fp32: converted to .tflite for the %s runtime in %.1f s", spec.runtime, about["convert_seconds"])
        if key is not None:
            r.converted.keep(key, local, {})
    about["sha256"] = sha256_file(local)
    return ship_model(r.spark, spec, local, "fp32"), about


def convert_fp32(spec: ModelSpec, destination: Path, prebuild: Optional[Fp32Prebuild] = None) -> float:
    """Convert `spec`'s Keras model (`prebuild`'s, else built now) to an fp32 .tflite file; the seconds it took."""
    prebuild = prebuild or Fp32Prebuild(spec)
    try:
        started = time.perf_counter()
        fp32 = prebuild.take()
        destination.write_bytes(convert_to_tflite(fp32.model, fp32.saved_model))
        return time.perf_counter() - started
    finally:
        prebuild.close()


def converted_fp32_spec(spark, spec: ModelSpec) -> ModelSpec:
    """`spec` with its fp32 model converted here and shipped (fruits.api: no output to keep it in)."""
    local = Path(tempfile.mkdtemp(prefix="fruits-fp32-")) / CONVERTED_FILE
    convert_fp32(spec, local)
    return dataclasses.replace(spec, model_file=ship_model(spark, spec, local, "fp32"))


def int8_model(r: Run, spec: ModelSpec, images: DataFrame) -> tuple[str, dict, dict]:
    """This run's int8 model, shipped to the executors: its own (a resumed run), the previous run's
    (--incremental, --reuse-model: features stay comparable across runs), or one calibrated on a
    sample of `images` (found in the output's converted models when a run calibrated on the same
    sample before). Kept in the run folder either way, for the runs that follow. Returns its name,
    metrics.json's `precision` and what it says of the model file."""
    name = r.int8_name
    folder = Path(tempfile.mkdtemp(prefix="fruits-int8-"))
    found = r.stored_int8
    converted = False
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
                made = quantize_for_run(spec, images, r.store, folder / name, prebuild, r.config.settings.max_pixels,
                                        r.converted)
            except ValueError as exc:
                raise JobError(str(exc)) from exc
        report, converted = made.to_dict(), not made.stored
    if found is not r.run:
        r.lake.files.upload(folder / name, f"{r.run[INT8]}/{name}")
        r.lake.files.write_text(f"{r.run[INT8]}/report.json", json.dumps(report))
    about = {"runtime": spec.runtime, "converted": converted, "sha256": sha256_file(folder / name)}
    return ship_model(r.spark, spec, folder / name, "int8"), report, about


def ship_model(spark, spec: ModelSpec, local: Path, precision: str) -> str:
    """Ship a converted model under a name that says its content: Spark keeps every file added to a
    session and refuses a second file of the same name with other bytes (a later run in one session)."""
    shipped = local.with_name(f"{spec.model}-{precision}-{sha256_file(local)[:16]}.tflite")
    local.rename(shipped)
    return ship_file(spark, str(shipped))


def sample_pixels(images: DataFrame, store: StoreSpec, seed: int, count: int,
                  max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, str]:
    """Decoded pixels of a seeded random sample of at most `count` images (a DataFrame with path and
    size, and `content` when they come from an image pack), and the sample's identity (a hash of its
    paths and sizes, in order): only the sample reaches the driver, and the driver reads just those files."""
    from pyspark.sql import functions as F

    packed = "content" in images.columns
    chosen = images.select("path", "size", *(["content"] if packed else [])).orderBy(F.rand(seed)).limit(count).collect()
    contents = [r.content for r in chosen] if packed else read_files(store, [(r.path, int(r.size)) for r in chosen])
    decoded = [decode_image(bytes(data), max_pixels=max_pixels) for data in contents if isinstance(data, (bytes, bytearray))]
    pixels = [d.pixels for d in decoded if d.pixels is not None]
    identity = hashlib.sha256(json.dumps([[r.path, int(r.size)] for r in chosen]).encode()).hexdigest()
    return (np.stack(pixels) if pixels else np.zeros((0, 224, 224, 3), np.uint8)), identity


def quantize_for_run(spec: ModelSpec, images: DataFrame, store: StoreSpec, destination: Path,
                     prebuild: Optional[Fp32Prebuild] = None, max_pixels: int = MAX_PIXELS,
                     converted: Optional[ConvertedStore] = None) -> QuantizationReport:
    """Quantize the fp32 model (`prebuild`'s, else built now on the driver) to int8 into
    `destination`, calibrated on a seeded sample of `images`; raises ValueError when too few of
    them decode. With `converted`, a model calibrated on the same sample before is taken from
    there (checked), and a new one is stored there."""
    prebuild = prebuild or Fp32Prebuild(spec)
    try:
        pixels, sample = sample_pixels(images, store, spec.seed, CALIBRATION_IMAGES + CHECK_IMAGES, max_pixels)
        key = model_key(spec, "int8", calibration=sample) if converted is not None else None
        manifest = converted.find(key, destination) if converted is not None and key is not None else None
        if manifest is not None:
            log.info("int8: the model an earlier run calibrated on the same sample (%s), checked by its sha256",
                     converted.folder(key))
            return dataclasses.replace(QuantizationReport(**manifest["report"]), stored=True)
        fp32 = prebuild.take()
        report = prepare_int8(fp32.model, preprocessor(spec.model), pixels, destination, os.cpu_count() or 1,
                              fp32.saved_model, spec.runtime)
        if converted is not None and key is not None:
            converted.keep(key, destination, dataclasses.asdict(report))
        return report
    finally:
        prebuild.close()
