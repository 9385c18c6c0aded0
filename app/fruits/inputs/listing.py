"""The input's listing as a DataFrame: one row per entry, listed by the workers, never held by the driver.

The driver plans the walk from the top two levels of folders only (`<root>/<Split>/<Label>` in the
Fruits-360 layout: a few hundred folders, whatever the number of images): each planned folder is a
task that lists its own entries, recursively below the second level. A local folder is walked
on bytes (fruits.storage.local; fruits.inputs.entry_rules has the rules: links not followed, hidden
folders one row, reasons for what will not be read); an S3 prefix is listed by LIST pages
(fruits.storage.object_store: size and time come with the page, so no request per object). Labels, splits and the reasons that follow
from a name or a size are Spark SQL expressions over the path (`with_labels`, `with_skip_reason`).

An independent count of the same tree (os.walk locally, a recursive LIST count on S3) must
equal the listing's row count, or the run stops before writing anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

from fruits.config.job_config import S3Settings
from fruits.config.schema import LISTING_COLUMNS, LISTING_SCHEMA
from fruits.config.uris import is_s3, local_path, normalize_uri
from fruits.errors import ConfigError
from fruits.inputs.entry_rules import EMPTY_FILE_REASON, HIDDEN_FOLDER_REASON, HIDDEN_KEY_REASON, IMAGE_EXTENSIONS, SPLITS, is_hidden, local_reason
from fruits.inputs.image_pack import PackSource, pack_listing, read_manifest
from fruits.inputs.input_list import read_input_list
from fruits.spark.arrow import record_batches
from fruits.spark.portable import default_parallelism
from fruits.storage import local
from fruits.storage.files import Files
from fruits.storage.object_store import list_entries
from fruits.storage.reads import MAX_FILE_BYTES, TOO_LARGE_PREFIX, StoreSpec, too_large_tail
from fruits.storage.retry import RetryCount, with_retries
from fruits.storage.s3 import UNADDRESSABLE_KEY_REASON, has_unaddressable_segment, s3_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Folders up to this depth are planned by the driver; deeper ones are walked inside a task.
PLANNED_DEPTH = 2
# The driver's own LIST requests: a few quick attempts, so a wrong endpoint fails in seconds.
PLAN_ATTEMPTS = 3


@dataclass(frozen=True)
class FolderTask:
    """List `folder`'s entries (and everything below it when `recursive`); `root` is the input's top."""

    root: str
    folder: str
    recursive: bool


class ListingMismatch(RuntimeError):
    """The listing and an independent count of the input disagree."""


def plan_levels(root: str, top, subfolders) -> list[FolderTask]:
    """Tasks covering a tree: the folders of its top PLANNED_DEPTH levels alone, the ones below whole.

    `subfolders(folder)` lists the folders to descend into (not hidden ones, not links); `top` is
    the root folder as `subfolders` names it.
    """
    tasks, level = [], [top]
    for depth in range(PLANNED_DEPTH + 1):
        recursive = depth == PLANNED_DEPTH
        tasks += [FolderTask(root, folder, recursive) for folder in level]
        if not recursive:
            level = [below for folder in level for below in subfolders(folder)]
    return tasks


def plan_local(root: bytes) -> list[FolderTask]:
    """Tasks covering the local tree under `root`. A folder that cannot be read gets no subfolders:
    the task for it reports it as a row."""
    top = os.fsdecode(root)
    return plan_levels(top, top, lambda folder: local.subfolders(folder, keep=lambda name: not is_hidden(name)))


def scan_local(task: FolderTask) -> Iterator[tuple]:
    """Rows (path, size, modified, reason) of the entries in `task`; see fruits.inputs.entry_rules."""

    def descend(entry: local.LocalEntry) -> bool:
        return task.recursive and not is_hidden(os.fsdecode(entry.name))

    for entry in local.walk(os.fsencode(task.folder), descend):
        if entry.is_folder:
            if is_hidden(os.fsdecode(entry.name)):
                yield (local.local_uri(entry.path), 0, entry.modified_ms, HIDDEN_FOLDER_REASON)
            continue
        yield (local.local_uri(entry.path), entry.size, entry.modified_ms, local_reason(entry))


def plan_s3(s3: S3Settings, root: str) -> list[FolderTask]:
    """Tasks covering the S3 prefix `root` (s3a://bucket/prefix), by LIST with a delimiter."""

    def subfolders(key: str) -> list[str]:
        entries = with_retries(lambda: list_entries(s3, key, recursive=False), attempts=PLAN_ATTEMPTS)
        return [e.key for e in entries if e.is_folder and not is_hidden(e.name)]

    return plan_levels(root, s3_key(root).rstrip("/"), subfolders)


def scan_s3(s3: S3Settings, task: FolderTask, retries: Optional[RetryCount] = None) -> Iterator[tuple]:
    """Rows (path, size, modified, reason) of the objects under `task.folder`, from LIST pages only.

    A key with a hidden part below the root (`_x`, `.x`, or under such a folder) is a row with its
    reason: Spark's readers would skip it silently. Hidden folders at the planned levels are listed
    here whole for the same reason. A key with an empty, `.` or `..` segment is a row S3 clients
    cannot read (fruits.storage.s3.UNADDRESSABLE_KEY_REASON).
    """
    prefix = s3_key(task.root).rstrip("/") + "/"
    for entry in with_retries(lambda: list_entries(s3, task.folder, task.recursive), retries):
        if entry.is_folder:
            if not task.recursive and is_hidden(entry.name):
                yield from scan_s3(s3, FolderTask(task.root, entry.key, True), retries)
            continue
        relative = entry.key[len(prefix):] if entry.key.startswith(prefix) else entry.key
        reason = (UNADDRESSABLE_KEY_REASON if has_unaddressable_segment(relative)
                  else HIDDEN_KEY_REASON if any(is_hidden(part) for part in relative.split("/")) else None)
        yield ("s3a://" + entry.key, entry.size, entry.modified_ms, reason)


@dataclass(frozen=True)
class Listing:
    """The listing, persisted (LISTING_COLUMNS), its row count, the LIST requests S3 made us retry,
    and the pack it came from when the input is an image pack (fruits.inputs.image_pack)."""

    files: object
    listed: int
    retries: int
    pack: Optional[PackSource] = None


def list_files(spark, input_uri: str, s3: S3Settings, limit: Optional[int] = None, input_list: Optional[str] = None) -> Listing:
    """Every entry under the input (or named by `input_list`, fruits.inputs.input_list; or held by the image
    pack the input is, fruits.inputs.image_pack) as a persisted DataFrame.

    Raises ConfigError when the input does not exist or holds no file, ListingMismatch when a
    second count of the tree disagrees. With `limit`, the first `limit` rows in path order (a
    distributed top-k: no path reaches the driver).
    """
    from pyspark import StorageLevel

    retries = None  # walking the input: the LIST requests its tasks retried, observed as it is counted
    pack = find_pack(input_uri, s3)
    if pack is not None and input_list:
        raise ConfigError(f"input {input_uri} is an image pack: it lists its own files, so --input-list does not apply")
    if input_list:
        frame, expected = read_input_list(spark, input_list, input_uri, s3), None
    elif pack is not None:
        frame, expected = pack_listing(spark, pack)
    else:
        frame, expected, retries = _walk(spark, input_uri, s3)
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    listed = frame.count()
    if expected is not None and listed != expected:
        frame.unpersist()
        if pack is not None:
            raise ListingMismatch(f"the image pack {input_uri} holds {listed} rows, but its manifest promises {expected}: "
                                  "a generation's files were removed or changed; pack again into a new folder")
        raise ListingMismatch(f"listed {listed} entries under {input_uri}, but a second count finds {expected}: "
                              "the input is changing, or the listing lost files; nothing was written")
    if listed == 0:
        frame.unpersist()
        raise ConfigError(f"input {input_list or input_uri} names no files")
    if limit and limit < listed:
        limited = frame.orderBy("path").limit(limit).persist(StorageLevel.MEMORY_AND_DISK)
        listed = limited.count()
        frame.unpersist()
        frame = limited
    return Listing(files=frame, listed=listed, retries=observed_retries(retries), pack=pack)


def find_pack(input_uri: str, s3: S3Settings) -> Optional[PackSource]:
    """The image pack at `input_uri`, or None when the input is a plain folder or prefix."""
    uri = normalize_uri(input_uri)
    manifest = read_manifest(Files(uri, s3), uri)
    return PackSource(uri, manifest) if manifest is not None else None


def _walk(spark, input_uri: str, s3: S3Settings) -> tuple:
    """The listing of a folder or prefix, walked by the workers; an independent count of it; the
    observation of the LIST requests the walk retried."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    if is_s3(input_uri):
        spec = StoreSpec(s3=s3)
        root = "s3a://" + s3_key(input_uri).rstrip("/")
        tasks = plan_s3(s3, root)
        expected = _remote_count(input_uri, s3)
    else:
        spec = StoreSpec()
        top = local.absolute(str(local_path(input_uri)))
        if not local.is_folder(top):
            raise ConfigError(f"input {input_uri} does not exist")
        tasks = plan_local(top)
        expected = local.count_entries(os.fsdecode(top), skip_folder=is_hidden)

    # A few folders per task: enough tasks to spread the walk, not one task (and its overhead) per folder.
    slices = max(1, min(len(tasks), 4 * default_parallelism(spark)))
    plan = spark.createDataFrame([(os.fsencode(t.root), os.fsencode(t.folder), t.recursive) for t in tasks], TASK_SCHEMA)
    walked = plan.repartition(slices).mapInArrow(lambda batches: _scan_batches(spec, batches), f"{LISTING_SCHEMA}, {RETRIES} bigint")
    retries = Observation("listing")
    frame = walked.observe(retries, F.sum(RETRIES).alias("retries")).filter(F.col("path").isNotNull()).select(*LISTING_COLUMNS)
    return frame, expected, retries


# The planned folders as rows (bytes: a local folder's name need not be UTF-8), and the hidden
# column in which each task reports the LIST requests it retried (summed by an observation).
TASK_SCHEMA = "root binary, folder binary, recursive boolean"
RETRIES = "_fruits_list_retries"
ROWS_PER_BATCH = 4096


def observed_retries(observation) -> int:
    """The LIST requests the walk retried (read after the listing was counted); 0 for a list or a pack."""
    return int(observation.get.get("retries") or 0) if observation is not None else 0


def _scan_batches(spec: StoreSpec, batches: Iterator) -> Iterator:
    """The listing rows of each planned folder of `batches` (TASK_SCHEMA), as Arrow batches, with the
    retries of each folder's LIST requests on a row of their own (path null)."""
    import pyarrow as pa

    def rows() -> Iterator[tuple]:
        for batch in batches:
            for root, folder, recursive in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                task = FolderTask(os.fsdecode(root), os.fsdecode(folder), recursive)
                if spec.s3 is None:
                    yield from (row + (0,) for row in scan_local(task))
                    continue
                count = RetryCount()
                found = list(scan_s3(spec.s3, task, count))
                yield from (row + (0,) for row in found)
                retried = count.take()
                if retried:  # on a row of its own that the listing drops (path null) when the folder was empty
                    yield (None, 0, 0, None, retried)

    types = [pa.string(), pa.int64(), pa.int64(), pa.string(), pa.int64()]
    return record_batches(rows(), [*LISTING_COLUMNS, RETRIES], types, ROWS_PER_BATCH)


def _remote_count(uri: str, s3: S3Settings) -> int:
    try:
        return Files(uri, s3).count_files(uri)
    except FileNotFoundError as exc:
        raise ConfigError(f"input {uri} does not exist") from exc


def extension_column(path_column: str = "path"):
    """Lower-case extension of the file name (with its dot), or "" when the name has none."""
    from pyspark.sql import functions as F

    name = F.substring_index(F.col(path_column), "/", -1)
    has_extension = F.instr(F.substring(name, 2, 1 << 30), ".") > 0  # a dot after the first character
    return F.when(has_extension, F.lower(F.concat(F.lit("."), F.substring_index(name, ".", -1)))).otherwise(F.lit(""))


def with_skip_reason(frame: DataFrame, max_file_bytes: int = MAX_FILE_BYTES) -> DataFrame:
    """`frame` with `reason` filled wherever the job will not read the file, null for images to featurize:
    the reason the listing gave, else not an image by its name, empty, or over `max_file_bytes`.
    The reasons are worded by fruits.inputs.entry_rules (tests/spark checks the texts agree).
    """
    from pyspark.sql import functions as F

    ext = extension_column()
    accepted = ", ".join(sorted(IMAGE_EXTENSIONS))
    non_image = F.concat(F.lit("not an image file ("), F.when(ext == "", F.lit("no extension")).otherwise(ext),
                         F.lit(f"); accepted: {accepted}"))
    too_large = F.concat(F.lit(TOO_LARGE_PREFIX), F.format_number(F.col("size"), 0), F.lit(too_large_tail(max_file_bytes)))
    reason = (F.when(F.col("reason").isNotNull(), F.col("reason"))
              .when(~ext.isin(*sorted(IMAGE_EXTENSIONS)), non_image)
              .when(F.col("size") == 0, F.lit(EMPTY_FILE_REASON))
              .when(F.col("size") > max_file_bytes, too_large))
    return frame.withColumn("reason", reason)


def with_labels(frame: DataFrame) -> DataFrame:
    """`frame` with `label` (the parent folder) and `split` (the grandparent when Training or Test).

    Local paths are `file:` URIs in which `%` is written `%25` (fruits.storage.local.local_uri; paths with
    other encoded bytes are never featurized), so their folder names are decoded back here.
    """
    from pyspark.sql import functions as F

    parts = F.split(F.col("path"), "/")
    local = F.col("path").startswith("file:")

    def folder(index: int):
        raw = F.try_element_at(parts, F.lit(index))
        return F.when(local, F.regexp_replace(raw, "%25", "%")).otherwise(raw)

    grandparent = folder(-3)
    return (frame.withColumn("label", F.coalesce(folder(-2), F.lit("")))
            .withColumn("split", F.when(grandparent.isin(*SPLITS), grandparent)))
