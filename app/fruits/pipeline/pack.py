"""`fruits pack`: list a folder of images, read their bytes on the executors, add them to an image pack.

The pack's layout and how a run reads it are in fruits.inputs.image_pack. Here: one generation per
call, written by Spark into its own folder, checked by reading it back, then named in `_PACK` (the
commit, an atomic replace: fruits.storage.files). Everything happens under the pack's lock
(fruits.table.lock), so two packs never race on the manifest; a pack killed
before its commit leaves a folder no manifest names, removed by the next pack. A file that cannot be
read now is left out (counted, with examples) and tried again by the next pack, so one bad read
never becomes a permanent row.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from fruits.config.job_config import PackConfig
from fruits.config.layout import GENERATION_PATTERN, GENERATION_PREFIX, LOCK, PACK_MANIFEST, is_own_temporary, new_run_id
from fruits.config.schema import FILE_KEY, LISTING_COLUMNS, PACK_COLUMNS, PACK_SCHEMA
from fruits.config.uris import normalize_uri
from fruits.errors import ConfigError, JobError
from fruits.inputs.image_pack import Generation, PackManifest, PackSource, all_rows, read_manifest
from fruits.inputs.listing import find_pack, list_files, with_skip_reason
from fruits.pipeline.waves import tasks_for
from fruits.spark.portable import default_parallelism
from fruits.spark.session import build_session, effective_s3
from fruits.storage.files import Files
from fruits.storage.reads import ReadFailure, StoreSpec, read_files
from fruits.storage.retry import RetryCount
from fruits.table.lock import OutputLock, lock_store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Files of a generation hold about this many bytes of images (Parquet row groups of a quarter of it).
PACK_FILE_BYTES = 128 * 1024 * 1024
ROW_GROUP_BYTES = PACK_FILE_BYTES // 4
# This tool's temporaries at the top of a pack (the manifest's, the lock's), left by a killed process.
UNREAD_EXAMPLES = 5


@dataclass(frozen=True)
class PackResult:
    pack: str
    generation: Generation | None  # None when the input held nothing new
    manifest: PackManifest
    unread: int
    unread_examples: tuple[str, ...]
    retries: int


def run_pack(config: PackConfig, spark: Optional[SparkSession] = None) -> PackResult:
    """Add the files of `config.input_uri` that the pack does not hold yet as one new generation."""
    if spark is None:
        spark = build_session(config, app_name="fruits-pack")
    s3 = effective_s3(spark, config.s3)
    pack = PackFolder(normalize_uri(config.output_uri), Files(normalize_uri(config.output_uri), s3))
    if find_pack(config.input_uri, s3) is not None:
        raise ConfigError(f"input {config.input_uri} is an image pack already: "
                          f"`fruits run --input {config.input_uri}` reads it as it is")
    check_pack_folder(pack)
    name = GENERATION_PREFIX + new_run_id()
    store = lock_store(spark, pack.uri, effective_s3(spark, config.s3))
    lock = OutputLock(store, pack.uri, name, wait_seconds=config.lock_wait,
                      lease_seconds=config.settings.lock_lease_seconds, pod_uid=config.settings.pod_uid)
    with lock:
        manifest = read_manifest(pack.files, pack.uri) or PackManifest()
        remove_leftovers(pack, manifest)
        return _add_generation(spark, pack, config, manifest, name, fence=lock.confirm)


@dataclass(frozen=True)
class PackFolder:
    """The pack's folder and the file operations on it."""

    uri: str
    files: Files


def check_pack_folder(pack: PackFolder) -> None:
    """Refuse a folder that holds anything but a pack: it is someone else's data (or a run's output)."""
    foreign = [n for n in pack.files.names(pack.uri)
               if n not in (PACK_MANIFEST, LOCK) and not GENERATION_PATTERN.match(n) and not is_own_temporary(n, PACK_MANIFEST)]
    if foreign:
        raise ConfigError(f"the pack's folder {pack.uri} already holds files that are not an image pack "
                          f"({', '.join(foreign[:5])}); choose a new or empty location for the pack")


def remove_leftovers(pack: PackFolder, manifest: PackManifest) -> None:
    """Delete generations no manifest names and temporary files: what killed packs left (the caller holds the lock)."""
    named = {g.name for g in manifest.generations}
    for entry in pack.files.names(pack.uri):
        unnamed = GENERATION_PATTERN.match(entry) and entry not in named
        if unnamed or (is_own_temporary(entry, PACK_MANIFEST) and entry.startswith(f".{PACK_MANIFEST}.")):
            log.info("removing %s/%s, left by a pack that did not finish", pack.uri, entry)
            pack.files.delete(f"{pack.uri}/{entry}")


def _add_generation(spark: SparkSession, pack: PackFolder, config: PackConfig, manifest: PackManifest, name: str,
                    fence: Callable[[], None]) -> PackResult:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    source = PackSource(pack.uri, manifest)
    s3 = effective_s3(spark, config.s3)
    listing = list_files(spark, config.input_uri, s3, config.limit, config.input_list)
    try:
        held = all_rows(spark, source).select(*FILE_KEY)
        new = with_skip_reason(listing.files, config.settings.max_file_bytes).join(held, FILE_KEY, "left_anti").select(*LISTING_COLUMNS)
        totals = new.agg(F.count(F.lit(1)).alias("rows"), F.count(F.when(F.col("reason").isNull(), 1)).alias("images"),
                         F.sum(F.when(F.col("reason").isNull(), F.col("size"))).alias("bytes")).first()
        log.info("listed %d files; %d are not in the pack yet (%d images to read)", listing.listed, totals.rows, totals.images)
        if totals.rows == 0:
            return PackResult(pack.uri, None, manifest, 0, (), listing.retries)
        uri = f"{pack.uri}/{name}"
        tasks = tasks_for(max(totals.images, 1), config.files_per_partition, default_parallelism(spark))
        files = max(1, math.ceil((totals.bytes or 0) / PACK_FILE_BYTES))
        reader = _make_reader(StoreSpec.for_uri(config.input_uri, s3, config.settings.max_file_bytes))
        observed = Observation("pack")
        read = new.repartition(tasks).mapInArrow(reader, PACK_SCHEMA + READER_EXTRA).observe(observed, *_reader_sums())
        (read.filter(F.col("unread").isNull()).select(*PACK_COLUMNS).repartition(files)
         .write.option("parquet.block.size", ROW_GROUP_BYTES).mode("error").parquet(uri))
        sums = observed.get
        unread = int(sums.get("unread") or 0)
        examples = sorted(sums[f"example{i}"] for i in range(UNREAD_EXAMPLES) if sums.get(f"example{i}"))
        generation = _check_written(spark, uri, name, totals.rows - unread, held, config.input_uri)
    finally:
        listing.files.unpersist()
    committed = manifest.with_generation(generation)
    # The commit: readers see the manifest before or after, never a mix (the same replace as a run's _CURRENT),
    # and only while the lock is still ours.
    fence()
    pack.files.replace(f"{pack.uri}/{PACK_MANIFEST}", committed.to_json().encode("utf-8"), tag=name)
    log.info("committed %s: %d files (%d images, %.1f MB) added; the pack holds %d files in %d generation(s)",
             name, generation.rows, generation.images, generation.bytes / 1e6, committed.rows, len(committed.generations))
    return PackResult(pack.uri, generation, committed, unread, tuple(examples), listing.retries + int(sums.get("retries") or 0))


def _check_written(spark, uri: str, name: str, expected: int, held, source: str) -> Generation:
    """The generation as read back from its files; JobError when it holds other than `expected` rows."""
    from pyspark.sql import functions as F

    written = spark.read.schema(PACK_SCHEMA).parquet(uri)
    counts = written.agg(F.count(F.lit(1)).alias("rows"), F.count("content").alias("images"),
                         F.sum(F.when(F.col("content").isNotNull(), F.col("size"))).alias("bytes")).first()
    if counts.rows != expected:
        raise JobError(f"{uri} holds {counts.rows} rows where {expected} were written; the pack is unchanged")
    supersedes = written.select("path").join(held.select("path"), "path", "left_semi").count()
    return Generation(name=name, rows=counts.rows, images=counts.images, bytes=int(counts.bytes or 0),
                      supersedes=supersedes, source=normalize_uri(source))


# What the reader adds to PACK_COLUMNS: why an image could not be read (null when it was), and the
# read requests each batch retried on its first row; both summed by an observation, never written.
READER_EXTRA = ", unread string, read_retries bigint"


def _reader_sums() -> list:
    """Unread images, retried reads, and at most UNREAD_EXAMPLES examples (one per hash bucket of paths)."""
    from pyspark.sql import functions as F

    bucket = F.pmod(F.xxhash64("path"), F.lit(UNREAD_EXAMPLES))
    return [F.count("unread").alias("unread"), F.sum("read_retries").alias("retries"),
            *(F.min(F.when(bucket == i, F.col("unread"))).alias(f"example{i}") for i in range(UNREAD_EXAMPLES))]


def _make_reader(store: StoreSpec):
    """A `mapInArrow` function: listing rows in, PACK_COLUMNS + READER_EXTRA out, the images' bytes read many at a time."""

    def read(batches: Iterator) -> Iterator:
        import pyarrow as pa

        count = RetryCount()
        for batch in batches:
            paths, sizes, reasons = (batch.column(c).to_pylist() for c in ("path", "size", "reason"))
            wanted = [(p, s) for p, s, r in zip(paths, sizes, reasons, strict=True) if r is None]
            contents = iter(read_files(store, wanted, retries=count))
            column, failed = [], []
            for path, reason in zip(paths, reasons, strict=True):
                data = next(contents) if reason is None else None
                unread = None
                if isinstance(data, ReadFailure):
                    unread, data = f"{path}: {data.reason}", None
                failed.append(unread)
                column.append(data)
            retried = [0] * batch.num_rows
            if retried:
                retried[0] = count.take()
            yield pa.RecordBatch.from_arrays(
                [*(batch.column(c) for c in LISTING_COLUMNS), pa.array(column, pa.binary()), pa.array(failed, pa.string()),
                 pa.array(retried, pa.int64())],
                names=[*PACK_COLUMNS, "unread", "read_retries"])

    return read
