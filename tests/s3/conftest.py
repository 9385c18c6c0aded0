"""A real MinIO server on 127.0.0.1 for tier 3, started once and always stopped.

The job runs as a subprocess (`fruits run`), the way a user runs it: its JVM is started with the
S3A jars and the endpoint settings, which a shared in-process SparkSession could not change.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request

import pytest

from helpers import free_port
from s3kit import ACCESS_KEY, BUCKET, MINIO, SECRET_KEY, MinioServer

pytestmark = pytest.mark.s3


@pytest.fixture(scope="session")
def minio(tmp_path_factory) -> MinioServer:
    if not MINIO.is_file():
        pytest.fail(f"{MINIO} is missing: run 'make minio' (make test does it)")
    data = tmp_path_factory.mktemp("minio-data")
    port, console = free_port(), free_port()
    log = data.parent / "minio.log"
    env = {**os.environ, "MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY,
           "MINIO_BROWSER": "off", "MINIO_UPDATE": "off"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(MINIO), "server", "--quiet", "--address", f"127.0.0.1:{port}", "--console-address", f"127.0.0.1:{console}", str(data)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/minio/health/live", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"MinIO did not start; log tail:\n{log.read_text()[-2000:]}")
                time.sleep(0.3)
        server = MinioServer(endpoint=endpoint, log=log)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def s3_sample(minio, small_sample) -> str:
    """The small sample (with its bad files) uploaded under s3a://lake/fruits/."""
    client = minio.client()
    for path in sorted(small_sample.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"fruits/{path.relative_to(small_sample).as_posix()}")
    return f"s3a://{BUCKET}/fruits"


