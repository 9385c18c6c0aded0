"""Helpers the s3-tier tests import (kept out of conftest.py: several tiers have one)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINIO = REPO / "bin" / "minio"
ACCESS_KEY, SECRET_KEY = "fruits-test", "fruits-test-secret"
BUCKET = "lake"


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


def run_fruits(*args: str, endpoint: str, secret: str = SECRET_KEY, timeout: int = 600) -> subprocess.CompletedProcess:
    """`fruits ARGS` against `endpoint`, as a user would run it, with S3 keys in the environment."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret,
           "FRUITS_S3_ENDPOINT": endpoint, "FRUITS_S3_PATH_STYLE": "true"}
    fruits = Path(sys.executable).parent / "fruits"
    return subprocess.run([str(fruits), *args], capture_output=True, text=True, env=env, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
