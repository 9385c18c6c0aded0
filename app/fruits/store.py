"""Where the input's bytes come from, seen from a Python worker: a local disk or S3.

The driver never lists nor reads image by image: it plans folders, and the workers list them
(`fruits.listing`) and read the files (`read_files`), many at a time, straight from the disk or
from S3 (the AWS default credential chain: keys in the environment, IRSA web identity, EKS Pod
Identity). S3 listings go through pyarrow's S3 filesystem; they know each object's size, so a read
is one GET (`fruits.s3_get`), nothing else per object. Reads overlap: `READ_THREADS` requests in flight
per task, never more than `READ_AHEAD_BYTES` of file contents held, so the network's round trips
hide behind decoding and the model instead of adding to them.
"""

from __future__ import annotations

import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union
from urllib.parse import urlparse

from fruits.config import S3Settings, is_s3
from fruits.ingest import MAX_FILE_BYTES, local_path_bytes, too_large_reason
from fruits.s3_get import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, ObjectChanged, S3Getter, endpoint_url, s3_region

READ_THREADS = 32
READ_AHEAD_BYTES = 64 << 20
# SlowDown (503), server errors, timeouts and dropped connections: retried here with jittered
# exponential backoff (and counted), so that metrics.json can say how often S3 pushed back.
S3_ATTEMPTS = 10
BACKOFF_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 10.0
_RETRYABLE = re.compile(r"SlowDown|SLOW_DOWN|\b50[0-4]\b|InternalError|ServiceUnavailable|RequestTimeout|curl|timed? ?out|"
                        r"[Rr]eset|NETWORK_CONNECTION|[Cc]onnection|[Bb]roken pipe|EOF", re.IGNORECASE)


class RetryCount:
    """Retries made by a task's threads; added to a Spark accumulator by the task's own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1

    def take(self) -> int:
        with self._lock:
            value, self.value = self.value, 0
            return value


def is_retryable(exc: BaseException) -> bool:
    """Throttling, a server error or a network failure: worth another attempt. Not a missing object,
    a denied one, or a bad request.

    >>> (is_retryable(OSError("AWS Error SLOW_DOWN during GetObject operation: Please reduce your request rate.")),
    ...  is_retryable(OSError("AWS Error ACCESS_DENIED during GetObject operation")))
    (True, False)
    """
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return False
    return isinstance(exc, OSError) and bool(_RETRYABLE.search(str(exc)))


def with_retries(call, retries: Optional[RetryCount] = None, attempts: int = S3_ATTEMPTS):
    """`call()`, again after a jittered, growing pause while it fails in a retryable way."""
    for attempt in range(attempts):
        try:
            return call()
        except OSError as exc:
            if attempt == attempts - 1 or not is_retryable(exc):
                raise
            if retries is not None:
                retries.add()
            time.sleep(min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ReadFailure:
    """A file the worker could not read; `reason` goes to the rejected table."""

    reason: str


Content = Union[bytes, ReadFailure]


@dataclass(frozen=True)
class StoreSpec:
    """What a worker needs to open the input's filesystem: picklable, no credentials inside."""

    s3: Optional[S3Settings] = None

    @classmethod
    def for_uri(cls, uri: str, s3: S3Settings) -> "StoreSpec":
        return cls(s3=s3 if is_s3(uri) else None)


def effective_s3(spark, s3: S3Settings) -> S3Settings:
    """The S3 settings the session's S3A connector really uses, for the workers' own S3 client.

    Flags and FRUITS_S3_* win; else the Hadoop configuration (spark-submit's and the chart's
    `spark.hadoop.fs.s3a.*`), so that both clients always talk to the same endpoint.
    """
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    endpoint = s3.endpoint or conf.get("fs.s3a.endpoint") or None
    if endpoint and "://" not in endpoint:
        secure = (conf.get("fs.s3a.connection.ssl.enabled") or "true").strip().lower() != "false"
        endpoint = ("https://" if secure else "http://") + endpoint
    path_style = s3.path_style
    if path_style is None and conf.get("fs.s3a.path.style.access"):
        path_style = conf.get("fs.s3a.path.style.access").strip().lower() == "true"
    return S3Settings(endpoint=endpoint, path_style=path_style, credentials_provider=s3.credentials_provider)


def s3_filesystem(s3: S3Settings):
    """pyarrow's S3 filesystem for the job's settings (endpoint, path style, retries)."""
    from pyarrow import fs

    options: dict = {
        "region": s3_region(),
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=1),  # retried by `with_retries`
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "request_timeout": READ_TIMEOUT_SECONDS,
    }
    if s3.endpoint:
        endpoint = urlparse(endpoint_url(s3.endpoint))
        options["endpoint_override"] = endpoint.netloc
        options["scheme"] = endpoint.scheme
    if s3.path_style is False:
        options["force_virtual_addressing"] = True
    return fs.S3FileSystem(**options)


_FILESYSTEMS: dict = {}


def filesystem(spec: StoreSpec):
    """The worker's S3 filesystem for `spec`, made once per process (None for local files)."""
    if spec.s3 is None:
        return None
    if spec.s3 not in _FILESYSTEMS:
        _FILESYSTEMS[spec.s3] = s3_filesystem(spec.s3)
    return _FILESYSTEMS[spec.s3]


def read_failure(exc: OSError, what: str) -> ReadFailure:
    """The rejected table's reason for a read that failed (for good: retries are done by then)."""
    if isinstance(exc, PermissionError):
        return ReadFailure("permission denied")
    if isinstance(exc, FileNotFoundError):
        return ReadFailure("file disappeared during the run")
    return ReadFailure(f"cannot read {what}: {exc.strerror or str(exc).splitlines()[0]}")


def read_local_file(uri: str) -> Content:
    """The bytes of a local file named by its `file:` URI (fruits.ingest.local_uri), never more than
    the size cap plus one byte: a file that grew past the cap since the listing is not read whole."""
    try:
        with open(local_path_bytes(uri), "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return read_failure(exc, "file")
    if len(data) > MAX_FILE_BYTES:
        return ReadFailure(too_large_reason(len(data)))
    return data


def read_s3_file(s3: S3Getter, uri: str, size: int, retries: Optional[RetryCount] = None) -> Content:
    """The object's bytes (one GET), retried when S3 pushes back; another size than the listed one is a failure."""
    try:
        return with_retries(lambda: s3.get(uri, size), retries)
    except ObjectChanged as exc:
        return ReadFailure(str(exc))
    except OSError as exc:
        return read_failure(exc, "object")


_GETTERS: dict = {}


def getter(spec: StoreSpec) -> Optional[S3Getter]:
    """The worker's S3 reader for `spec`, made once per process (None for local files)."""
    if spec.s3 is None:
        return None
    if spec.s3 not in _GETTERS:
        _GETTERS[spec.s3] = S3Getter(spec.s3)
    return _GETTERS[spec.s3]


def read_files(spec: StoreSpec, files: Iterable[tuple[str, int]], threads: int = READ_THREADS,
               ahead_bytes: int = READ_AHEAD_BYTES, retries: Optional[RetryCount] = None) -> Iterator[Content]:
    """The contents of `files` ((uri, listed size) pairs), in order, read `threads` at a time.

    At most `ahead_bytes` of listed sizes are requested beyond the file being yielded (at least
    one file), so a batch of large files cannot fill the worker's memory.
    """
    s3 = getter(spec)

    def read(item: tuple[str, int]) -> Content:
        uri, size = item
        return read_s3_file(s3, uri, size, retries) if s3 is not None else read_local_file(uri)

    pending: list = []
    pending_bytes = 0
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="fruits-read") as pool:
        for item in files:
            while pending and (len(pending) >= threads * 2 or pending_bytes + item[1] > ahead_bytes):
                size, future = pending.pop(0)
                pending_bytes -= size
                yield future.result()
            pending.append((item[1], pool.submit(read, item)))
            pending_bytes += item[1]
        for _, future in pending:
            yield future.result()
