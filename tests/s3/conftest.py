"""A real MinIO server on 127.0.0.1 for tier 3, started once and always stopped.

The job runs as a subprocess (`fruits run`), the way a user runs it: its JVM is started with the
S3A jars and the endpoint settings, which a shared in-process SparkSession could not change.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.s3

REPO = Path(__file__).resolve().parents[2]
MINIO = REPO / "bin" / "minio"
ACCESS_KEY, SECRET_KEY = "fruits-test", "fruits-test-secret"
BUCKET = "lake"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MinioServer:
    endpoint: str
    log: Path

    def client(self, secret: str = SECRET_KEY):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=secret, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


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


def run_fruits(*args: str, endpoint: str, secret: str = SECRET_KEY, timeout: int = 600) -> subprocess.CompletedProcess:
    """`fruits ARGS` against `endpoint`, as a user would run it, with S3 keys in the environment."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret,
           "FRUITS_S3_ENDPOINT": endpoint, "FRUITS_S3_PATH_STYLE": "true"}
    fruits = Path(sys.executable).parent / "fruits"
    return subprocess.run([str(fruits), *args], capture_output=True, text=True, env=env, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
