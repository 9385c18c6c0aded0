"""`--input-list URI`: the input's files named by a list instead of a listing, for very large inputs.

A folder listing walks every prefix; at tens of millions of objects an S3 Inventory report, or
any list the data owner already keeps, is cheaper and is a consistent snapshot. Accepted forms,
read as DataFrames by the executors (the driver reads at most an inventory's manifest.json):

- a text file: one path per line (blank lines and lines starting with `#` skipped);
- CSV with a header, or Parquet: a `path` (or `key`) column, optional `size` (bytes) and
  `modified` (epoch milliseconds);
- an AWS S3 Inventory `manifest.json` (CSV or Parquet reports): bucket, key, size and last
  modified time of every object; CSV reports carry URL-encoded keys, decoded here.

A path without a scheme is relative to `--input`. Every entry becomes one row: entries outside
`--input`, folder keys and hidden keys carry their reason, like the folder listing's. Entries
without a size or time are looked up by the workers (a HEAD, or a stat, many at a time); one that
does not exist is a row with its reason. Duplicates count once.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, NamedTuple, Optional

from fruits.config.job_config import S3Settings
from fruits.config.schema import LISTING_COLUMNS, LISTING_SCHEMA
from fruits.config.uris import is_s3, local_path
from fruits.errors import ConfigError
from fruits.inputs.entry_rules import HIDDEN_KEY_REASON, local_reason
from fruits.spark.arrow import record_batches
from fruits.storage import local
from fruits.storage.object_store import head
from fruits.storage.reads import READ_THREADS, StoreSpec
from fruits.storage.retry import with_retries
from fruits.storage.s3 import s3_key

MISSING_REASON = "named in the input list, but not found"
OUTSIDE_REASON = "named in the input list, but not under --input"


def input_root(input_uri: str) -> str:
    """The prefix every listed path must start with: `s3a://bucket/prefix` or `file:/abs/folder`.

    >>> input_root("s3://fruits/in/"), input_root("/data/fruits")
    ('s3a://fruits/in', 'file:/data/fruits')
    """
    if is_s3(input_uri):
        return "s3a://" + s3_key(input_uri).rstrip("/")
    return "file:" + str(local_path(input_uri).resolve()).replace("%", "%25").rstrip("/")


def read_input_list(spark, list_uri: str, input_uri: str, s3: S3Settings):
    """LISTING_COLUMNS for every entry of the list at `list_uri` (see the module docstring)."""
    from pyspark.sql import functions as F

    uri = list_uri if "://" in list_uri else "file://" + str(local_path(list_uri).resolve())
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    try:
        if name == "manifest.json":
            entries = _inventory(spark, uri)
        elif name.endswith(".parquet") or name.endswith(".parq"):
            entries = _columns(spark.read.parquet(uri), list_uri)
        elif name.endswith((".csv", ".csv.gz")):
            entries = _columns(spark.read.option("header", "true").csv(uri), list_uri)
        else:
            entries = (spark.read.text(uri).select(F.trim("value").alias("path"))
                       .filter((F.col("path") != "") & ~F.col("path").startswith("#"))
                       .select("path", F.lit(None).cast("bigint").alias("size"), F.lit(None).cast("bigint").alias("modified")))
    except Exception as exc:  # noqa: BLE001 - Spark's AnalysisException names the path; say which option
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            raise ConfigError(f"--input-list {list_uri} does not exist") from exc
        raise
    root = input_root(input_uri)
    path = F.col("path")
    absolute = (F.when(path.rlike("^[A-Za-z][A-Za-z0-9+.-]+://"), F.regexp_replace(path, "^s3a?n?://", "s3a://"))
                .when(path.startswith("/"), F.concat(F.lit("file:"), F.regexp_replace(path, "%", "%25")))
                .otherwise(F.concat(F.lit(root + "/"), F.regexp_replace(path, "^\\./", ""))))
    relative = F.substring(F.col("path"), len(root) + 2, 1 << 30)
    hidden = F.exists(F.split(relative, "/"), lambda part: part.rlike("^[._]"))
    rows = (entries.withColumn("path", absolute).filter(~F.col("path").endswith("/")).dropDuplicates(["path"])
            .withColumn("reason", F.when(~F.col("path").startswith(root + "/"), F.lit(OUTSIDE_REASON))
                        .when(hidden, F.lit(HIDDEN_KEY_REASON))))
    spec = StoreSpec.for_uri(input_uri, s3)
    schema = LISTING_SCHEMA
    return rows.select(*LISTING_COLUMNS).mapInArrow(lambda batches: _completed_batches(spec, batches), schema)


class _Entry(NamedTuple):
    path: str
    size: Optional[int]
    modified: Optional[int]
    reason: Optional[str]


def _completed_batches(spec: StoreSpec, batches: Iterator) -> Iterator:
    """`_complete` over Arrow batches of LISTING_COLUMNS, as Arrow batches again (mapInArrow)."""
    import pyarrow as pa

    def entries() -> Iterator[_Entry]:
        for batch in batches:
            yield from (_Entry(*row) for row in zip(*(batch.column(name).to_pylist() for name in LISTING_COLUMNS), strict=True))

    types = [pa.string(), pa.int64(), pa.int64(), pa.string()]
    return record_batches(_complete(spec, entries()), list(LISTING_COLUMNS), types, 1024)


def _columns(frame, list_uri: str):
    from pyspark.sql import functions as F

    names = {c.lower(): c for c in frame.columns}
    key = names.get("path") or names.get("key")
    if key is None:
        raise ConfigError(f"--input-list {list_uri} has no 'path' (or 'key') column; found {', '.join(frame.columns)}")

    def optional(name: str):
        return F.col(names[name]).cast("bigint") if name in names else F.lit(None).cast("bigint")

    return frame.select(F.col(key).cast("string").alias("path"), optional("size").alias("size"), optional("modified").alias("modified"))


def _inventory(spark, uri: str):
    """The objects of an S3 Inventory report, from its manifest.json (read on the driver: a few KB)."""
    from pyspark.sql import functions as F

    text = "\n".join(row.value for row in spark.read.text(uri).collect())
    try:
        manifest = json.loads(text)
        source_bucket = manifest["sourceBucket"]
        keys = [f["key"] for f in manifest["files"]]
        file_format = manifest.get("fileFormat", "CSV").upper()
        schema = manifest.get("fileSchema", "")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--input-list {uri} is not an S3 Inventory manifest.json: {exc}") from exc
    if not keys:
        raise ConfigError(f"--input-list {uri} names no inventory files")
    data = _report_files(uri, keys)
    if file_format == "CSV":
        columns = [c.strip() for c in schema.split(",")]
        if "Key" not in columns:
            raise ConfigError(f"--input-list {uri}: the inventory's fileSchema has no Key column")
        frame = spark.read.schema(", ".join(f"`{c}` string" for c in columns)).csv(data)
        bucket, key = F.col("Bucket") if "Bucket" in columns else F.lit(source_bucket), F.expr("url_decode(`Key`)")
        size = F.col("Size").cast("bigint") if "Size" in columns else F.lit(None).cast("bigint")
        modified = (F.unix_millis(F.to_timestamp("LastModifiedDate")) if "LastModifiedDate" in columns
                    else F.lit(None).cast("bigint"))
    elif file_format in ("PARQUET", "ORC"):
        frame = spark.read.parquet(*data) if file_format == "PARQUET" else spark.read.orc(*data)
        bucket = F.col("bucket") if "bucket" in frame.columns else F.lit(source_bucket)
        key = F.col("key")
        size = F.col("size").cast("bigint") if "size" in frame.columns else F.lit(None).cast("bigint")
        modified = (F.unix_millis(F.col("last_modified_date").cast("timestamp")) if "last_modified_date" in frame.columns
                    else F.lit(None).cast("bigint"))
    else:
        raise ConfigError(f"--input-list {uri}: inventory format {file_format} is not supported (CSV, Parquet, ORC)")
    return frame.select(F.concat(F.lit("s3a://"), bucket, F.lit("/"), key).alias("path"), size.alias("size"),
                        modified.alias("modified"))


def _report_files(uri: str, keys: list) -> list:
    """URIs of the report's data files: their keys are relative to the bucket the manifest is in
    (for a copy on a local disk, to the folder above it that holds them)."""
    if "://" in uri and not uri.startswith("file:"):
        bucket = uri.split("/")[2]
        return [f"s3a://{bucket}/{key}" for key in keys]
    folder = local_path(uri).parent
    for ancestor in (folder, *folder.parents):
        if (ancestor / keys[0]).exists():
            return ["file://" + str(ancestor / key) for key in keys]
    raise ConfigError(f"--input-list {uri}: cannot find its inventory file {keys[0]}")


def _complete(spec: StoreSpec, rows: Iterator) -> Iterator[tuple]:
    """Rows with size and time filled in where the list had none, looked up many at a time."""
    pending = []

    def flush() -> Iterator[tuple]:
        with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="fruits-stat") as pool:
            yield from pool.map(lambda row: _look_up(spec, row), pending)
        pending.clear()

    for row in rows:
        if row.reason is None and (row.size is None or row.modified is None):
            pending.append(row)
            if len(pending) >= 1024:
                yield from flush()
        else:
            yield (row.path, row.size or 0, row.modified or 0, row.reason)
    if pending:
        yield from flush()


def _look_up(spec: StoreSpec, row) -> tuple:
    if spec.s3 is None:
        try:
            entry = local.look_up(row.path)
        except FileNotFoundError:
            return (row.path, 0, 0, MISSING_REASON)
        if entry.is_folder:
            return (row.path, 0, entry.modified_ms, "a folder, not a file")
        return (row.path, entry.size, entry.modified_ms, local_reason(entry))
    try:
        found = with_retries(lambda: head(spec.s3, row.path))
    except OSError as exc:
        return (row.path, 0, 0, f"cannot read object: {str(exc).splitlines()[0]}")
    if found is None:
        return (row.path, 0, 0, MISSING_REASON)
    return (row.path, found.size, found.modified_ms, None)
