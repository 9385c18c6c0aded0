"""Helpers the s3-tier tests import (kept out of conftest.py: several tiers have one).

`make bench-s3` imports them too, so that the bench starts MinIO exactly as the tests do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINIO = REPO / "bin" / "minio"
ACCESS_KEY, SECRET_KEY = "fruits-test", "fruits-test-secret"
BUCKET = "lake"
# Runs whose subject is S3, not the model, take EfficientNet-Lite0: about a tenth of ResNet50's work.
QUICK_MODEL = ("--model", "efficientnet-lite0")


@dataclass(frozen=True)
class MinioServer:
    endpoint: str
    log: Path

    def client(self, secret: str = SECRET_KEY):
        return s3_client(self.endpoint, secret)


def s3_client(endpoint: str, secret: str = SECRET_KEY, **config):
    """A boto3 S3 client with the test keys, for MinIO itself or for a proxy in front of it."""
    import boto3
    from botocore.config import Config

    options = {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 2}, **config}
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=secret, region_name="us-east-1", config=Config(**options))


def start_server(args: Sequence[str], ready_url: str, log: Path, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.Popen:
    """Start a server process (output to `log`) and return once `ready_url` answers.

    Raises RuntimeError with the log's tail if it exits or stays silent: a server that never came
    up must fail the caller loudly, not hang it.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(ready_url, timeout=2):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_server(process)
                raise RuntimeError(f"{Path(args[0]).name} did not start; log tail:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 20 s: the servers must never outlive the tests or the bench."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def minio_server(data: Path, log: Path, port: int, console: int) -> Iterator[MinioServer]:
    """MinIO on 127.0.0.1:`port` over the folder `data`, with the bucket BUCKET; stopped on exit."""
    if not MINIO.is_file():
        raise RuntimeError(f"{MINIO} is missing: run 'make minio' (make test does it)")
    env = {**os.environ, "MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY,
           "MINIO_BROWSER": "off", "MINIO_UPDATE": "off",
           # Request counts by API (tests/s3/test_object_store.py: reads make no HEAD), readable without a token.
           "MINIO_PROMETHEUS_AUTH_TYPE": "public"}
    endpoint = f"http://127.0.0.1:{port}"
    process = start_server([str(MINIO), "server", "--quiet", "--address", f"127.0.0.1:{port}",
                            "--console-address", f"127.0.0.1:{console}", str(data)],
                           f"{endpoint}/minio/health/live", log, env)
    try:
        server = MinioServer(endpoint=endpoint, log=log)
        client = server.client()
        if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=BUCKET)
        yield server
    finally:
        stop_server(process)


def catalog_of(endpoint: str, output: str) -> dict[str, str]:
    """The catalog an S3 output of the tests is registered in: one SQLite file per MinIO server (an S3
    output needs a catalog outside the bucket), one namespace per output."""
    folder = Path(tempfile.gettempdir()) / "fruits-s3-catalogs"
    folder.mkdir(exist_ok=True)
    port = endpoint.rsplit(":", 1)[-1].strip("/")
    return {"uri": f"sqlite:///{folder}/minio-{port}-{os.getpid()}.db",
            "namespace": re.sub(r"[^a-z0-9]+", "_", output.split("://", 1)[-1].lower()).strip("_")}


def output_of(args: Sequence[str]) -> str | None:
    """The output a `fruits` command line names: --output's value, or report/evaluate/migrate's argument."""
    if "--output" in args:
        return args[list(args).index("--output") + 1]
    if args and args[0] in ("report", "evaluate", "migrate"):
        return args[1]
    return None


def table_rows(endpoint: str, output: str, name: str = "features", columns: Sequence[str] | None = None, run_id: str | None = None):
    """Rows of an S3 output's table, read through its catalog by PyIceberg (no code of the job's)."""
    import tablekit

    catalog = catalog_of(endpoint, output)
    return tablekit.rows(output, name, list(columns) if columns else None, run_id, namespace=catalog["namespace"],
                         uri=catalog["uri"], **s3_properties(endpoint))


def current_run(endpoint: str, output: str) -> str | None:
    import tablekit

    catalog = catalog_of(endpoint, output)
    return tablekit.current_run_id(output, namespace=catalog["namespace"], uri=catalog["uri"], **s3_properties(endpoint))


def s3_properties(endpoint: str) -> dict[str, str]:
    return {"s3.endpoint": endpoint, "s3.access-key-id": ACCESS_KEY, "s3.secret-access-key": SECRET_KEY, "s3.region": "us-east-1"}


def run_fruits(*args: str, endpoint: str, secret: str = SECRET_KEY, timeout: int = 600) -> subprocess.CompletedProcess:
    """`fruits ARGS` against `endpoint`, as a user would run it, with S3 keys in the environment and
    the output's catalog (`catalog_of`) in FRUITS_CATALOG_URI and FRUITS_CATALOG_NAMESPACE."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret,
           "FRUITS_S3_ENDPOINT": endpoint, "FRUITS_S3_PATH_STYLE": "true"}
    output = output_of(args)
    if output is not None and "://" in output:
        catalog = catalog_of(endpoint, output)
        env.update(FRUITS_CATALOG_URI=catalog["uri"], FRUITS_CATALOG_NAMESPACE=catalog["namespace"])
    fruits = Path(sys.executable).parent / "fruits"
    return subprocess.run([str(fruits), *args], capture_output=True, text=True, env=env, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
