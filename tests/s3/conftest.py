"""A real MinIO server on 127.0.0.1 for tier 3, started once and always stopped.

The job runs as a subprocess (`fruits run`), the way a user runs it: its JVM is started with the
S3A jars and the endpoint settings, which a shared in-process SparkSession could not change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from helpers import free_port
from s3kit import BUCKET, MinioServer, minio_server
from toxiproxy import Proxy, Toxiproxy, host_port

pytestmark = pytest.mark.s3


@pytest.fixture(scope="session")
def minio(tmp_path_factory) -> Iterator[MinioServer]:
    data = tmp_path_factory.mktemp("minio-data")
    try:
        with minio_server(data, data.parent / "minio.log", free_port(), free_port()) as server:
            yield server
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def toxiproxy(tmp_path_factory) -> Iterator[Toxiproxy]:
    """One toxiproxy-server for the session; each test gets its own proxy from `minio_proxy`."""
    try:
        server = Toxiproxy.start(tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log")
    except RuntimeError as error:
        pytest.fail(str(error))
    with server:
        yield server


@pytest.fixture
def minio_proxy(minio, toxiproxy) -> Iterator[Proxy]:
    """A proxy in front of the session's MinIO, no toxics yet; deleted (with its toxics) after the test.

    Clients point at `minio_proxy.endpoint` (boto3: `s3_client(minio_proxy.endpoint)`; the job:
    `run_fruits(..., endpoint=minio_proxy.endpoint)`) and the test adds toxics, e.g.
    `minio_proxy.latency(20)` or `minio_proxy.reset_peer(0.1)`.
    """
    proxy = toxiproxy.create_proxy(f"minio-{uuid.uuid4().hex[:12]}", host_port(minio.endpoint))
    yield proxy
    proxy.delete()


@pytest.fixture(scope="session")
def s3_sample(minio, small_sample) -> str:
    """The small sample (with its bad files) uploaded under s3a://lake/fruits/."""
    client = minio.client()
    for path in sorted(small_sample.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"fruits/{path.relative_to(small_sample).as_posix()}")
    return f"s3a://{BUCKET}/fruits"


