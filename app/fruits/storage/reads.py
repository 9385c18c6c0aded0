"""Where the input's bytes come from, seen from a Python worker: a local disk or S3.

The driver never lists nor reads image by image: it plans folders, and the workers list them
(`fruits.inputs.listing`) and read the files (`read_files`), many at a time, straight from the disk or
from S3 (the AWS default credential chain: keys in the environment, IRSA web identity, EKS Pod
Identity). S3 listings know each object's size, so a read is one GET (`fruits.storage.object_store`),
nothing else per object. Reads overlap: `READ_THREADS` requests in flight per task, never more
than `READ_AHEAD_BYTES` of file contents held, so the network's round trips hide behind decoding
and the model instead of adding to them.

What a worker needs travels in a `StoreSpec`, made on the driver from the run's settings and
shipped inside the function Spark runs: the S3 endpoint, region and CA bundle, and the size cap,
so the driver's rule for "too large" and the workers' read cap are one number.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union

from fruits.config.job_config import S3Settings
from fruits.config.settings import Settings
from fruits.config.uris import is_s3
from fruits.storage import object_store
from fruits.storage.local import local_path_bytes
from fruits.storage.object_store import ObjectChanged
from fruits.storage.retry import RetryCount, with_retries

READ_THREADS = 32
READ_AHEAD_BYTES = 64 << 20
MAX_FILE_BYTES = Settings.max_file_bytes  # the default; a run's own cap is `StoreSpec.max_file_bytes`


@dataclass(frozen=True)
class ReadFailure:
    """A file the worker could not read; `reason` goes to the rejected table."""

    reason: str


Content = Union[bytes, ReadFailure]


@dataclass(frozen=True)
class StoreSpec:
    """What a worker needs to open the input's store: picklable, no credentials inside."""

    s3: Optional[S3Settings] = None
    max_file_bytes: int = MAX_FILE_BYTES

    @classmethod
    def for_uri(cls, uri: str, s3: S3Settings, max_file_bytes: int = MAX_FILE_BYTES) -> "StoreSpec":
        return cls(s3=s3 if is_s3(uri) else None, max_file_bytes=max_file_bytes)


TOO_LARGE_PREFIX = "file too large ("


def too_large_reason(size: int, limit: int) -> str:
    """The rejected table's reason for a file over the size cap (the listing words it in SQL from the same pieces).

    >>> too_large_reason(70_000_000, 67_108_864)
    'file too large (70,000,000 bytes, limit 67,108,864; FRUITS_MAX_FILE_BYTES)'
    """
    return f"{TOO_LARGE_PREFIX}{size:,}{too_large_tail(limit)}"


def too_large_tail(limit: int) -> str:
    """What follows the size in `too_large_reason`."""
    return f" bytes, limit {limit:,}; {Settings.env_name('max_file_bytes')})"


def read_failure(exc: OSError, what: str) -> ReadFailure:
    """The rejected table's reason for a read that failed (for good: retries are done by then)."""
    if isinstance(exc, PermissionError):
        return ReadFailure("permission denied")
    if isinstance(exc, FileNotFoundError):
        return ReadFailure("file disappeared during the run")
    return ReadFailure(f"cannot read {what}: {exc.strerror or str(exc).splitlines()[0]}")


def read_local_file(uri: str, limit: int = MAX_FILE_BYTES) -> Content:
    """The bytes of a local file named by its `file:` URI (fruits.storage.local.local_uri), never more
    than `limit` plus one byte: a file that grew past the cap since the listing is not read whole."""
    try:
        with open(local_path_bytes(uri), "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        return read_failure(exc, "file")
    if len(data) > limit:
        return ReadFailure(too_large_reason(len(data), limit))
    return data


def read_s3_file(s3: S3Settings, uri: str, size: Optional[int], retries: Optional[RetryCount] = None,
                 limit: int = MAX_FILE_BYTES) -> Content:
    """The object's bytes (one GET), retried when S3 pushes back; another size than the listed one is
    a failure. With no listed size (a DataFrame of paths alone), an object over `limit` is one too."""
    try:
        data = with_retries(lambda: object_store.get(s3, uri, size), retries)
    except ObjectChanged as exc:
        return ReadFailure(str(exc))
    except OSError as exc:
        return read_failure(exc, "object")
    return ReadFailure(too_large_reason(len(data), limit)) if size is None and len(data) > limit else data


def read_files(spec: StoreSpec, files: Iterable[tuple[str, Optional[int]]], threads: int = READ_THREADS,
               ahead_bytes: int = READ_AHEAD_BYTES, retries: Optional[RetryCount] = None) -> Iterator[Content]:
    """The contents of `files` ((uri, listed size or None) pairs), in order, read `threads` at a time,
    each from the store its URI names (an s3:// URI needs `spec.s3`).

    At most `ahead_bytes` of listed sizes are requested beyond the file being yielded (at least
    one file), so a batch of large files cannot fill the worker's memory.
    """
    def read(item: tuple[str, int]) -> Content:
        uri, size = item
        if not is_s3(uri):
            return read_local_file(uri, spec.max_file_bytes)
        if spec.s3 is None:
            return ReadFailure("an S3 path, but this read has no S3 settings")
        return read_s3_file(spec.s3, uri, size, retries, spec.max_file_bytes)

    pending: list = []
    pending_bytes = 0
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="fruits-read") as pool:
        for item in files:
            expected = item[1] or 0
            while pending and (len(pending) >= threads * 2 or pending_bytes + expected > ahead_bytes):
                size, future = pending.pop(0)
                pending_bytes -= size
                yield future.result()
            pending.append((expected, pool.submit(read, item)))
            pending_bytes += expected
        for _, future in pending:
            yield future.result()
