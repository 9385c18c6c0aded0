"""Locations as the job names them: local paths, `file:` and `s3a://` URIs, compared in one normal form."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from fruits.errors import ConfigError

# What the job reads and writes from Python (fruits.storage): the local disk and S3, nothing else.
SUPPORTED_LOCATIONS = "a local path, a file: URI or an s3:// (s3a://) URI"


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in ("s3a", "s3", "s3n")


def is_remote(uri: str) -> bool:
    """True for URIs with a scheme other than the local disk's (s3a://, and the ones check_supported refuses)."""
    scheme = urlparse(uri).scheme
    return scheme not in ("", "file") and len(scheme) > 1  # one letter: a Windows drive


def check_supported(uri: str, what: str) -> None:
    """ConfigError unless `uri` lies on a store the job works on without a JVM: the local disk or S3.

    >>> check_supported("hdfs://nn/out", "output")
    Traceback (most recent call last):
    ...
    fruits.errors.ConfigError: output 'hdfs://nn/out': hdfs:// is not supported; give a local path, a file: URI or an s3:// (s3a://) URI
    """
    if is_remote(uri) and not is_s3(uri):
        raise ConfigError(f"{what} {uri!r}: {urlparse(uri).scheme}:// is not supported; give {SUPPORTED_LOCATIONS}")


def local_path(uri: str) -> Path:
    """The local path of a plain path or file:// URI."""
    parsed = urlparse(uri)
    return Path(parsed.path if parsed.scheme == "file" else uri).expanduser()


def normalize_uri(uri: str) -> str:
    """Absolute, scheme-qualified form used to compare and print locations."""
    if is_remote(uri):
        scheme, rest = uri.split("://", 1)
        if scheme in ("s3", "s3n"):
            scheme = "s3a"
        return f"{scheme}://{rest.rstrip('/')}"
    return "file://" + str(local_path(uri).resolve())


def within(inner: str, outer: str) -> bool:
    """Whether `inner` is the location `outer` or lies inside it.

    >>> within("s3a://lake/pack/", "s3a://lake/pack"), within("/data/in/pack", "/data/in"), within("/data/in", "/data/in/pack")
    (True, True, False)
    """
    inner, outer = normalize_uri(inner), normalize_uri(outer)
    return inner == outer or inner.startswith(outer + "/")


def overlap(a: str, b: str) -> bool:
    """Whether two locations are the same, or one lies inside the other.

    >>> overlap("s3a://lake/pack", "s3a://lake/pack/"), overlap("/data/in", "/data/in/pack"), overlap("/data/in", "/data/out")
    (True, True, False)
    """
    return within(a, b) or within(b, a)


def table_uri(uri: str) -> str:
    """The form an open table records a location in, which tools other than Hadoop open: `s3://`
    for S3 (Hadoop's `s3a://` is Spark's name for the same object) and `file:///` local paths,
    undecoded. Spark's `input_file_name()` and Hadoop paths come in percent-encoded; they are decoded.

    >>> table_uri("s3a://lake/out/features"), table_uri("file:/tmp/a%20b/x.parquet"), table_uri("/tmp/o")
    ('s3://lake/out/features', 'file:///tmp/a b/x.parquet', 'file:///tmp/o')
    """
    if is_s3(uri):
        return "s3://" + uri.split("://", 1)[1].rstrip("/")
    if is_remote(uri):
        return uri.rstrip("/")
    parsed = urlparse(uri)
    path = unquote(parsed.path) if parsed.scheme == "file" else str(local_path(uri).resolve())
    return "file://" + path.rstrip("/")


def spark_uri(uri: str) -> str:
    """The form Spark opens a table location or data file in: `s3a://` for S3, else as it is.

    >>> spark_uri("s3://lake/out/features/data/x.parquet"), spark_uri("file:///tmp/o")
    ('s3a://lake/out/features/data/x.parquet', 'file:///tmp/o')
    """
    return "s3a://" + uri.split("://", 1)[1] if is_s3(uri) else uri
