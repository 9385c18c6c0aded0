"""Where the job's S3 requests go: the bucket's regional host on AWS, path style where names or
endpoints need it (obstore signs a URL for the check; no request is sent)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest

from fruits.config.job_config import S3Settings
from fruits.storage.object_store import store


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "AWS_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)


def address(settings: S3Settings, bucket: str, key: str) -> str:
    import obstore

    return obstore.sign(store(settings, bucket), "GET", key, timedelta(minutes=1)).split("?", 1)[0]


@pytest.mark.parametrize("region, settings, bucket, expected", [
    ("eu-west-1", S3Settings(), "fruits-lake", "https://fruits-lake.s3.eu-west-1.amazonaws.com/"),
    ("eu-west-1", S3Settings(), "my.dotted.lake", "https://s3.eu-west-1.amazonaws.com/my.dotted.lake/"),
    ("cn-north-1", S3Settings(), "fruits-lake", "https://fruits-lake.s3.cn-north-1.amazonaws.com.cn/"),
    ("eu-west-1", S3Settings(path_style=True), "fruits-lake", "https://s3.eu-west-1.amazonaws.com/fruits-lake/"),
    ("us-east-1", S3Settings(endpoint="http://minio:9000"), "lake", "http://minio:9000/lake/"),
    ("us-east-1", S3Settings(endpoint="minio.lake:9000", path_style=False), "lake", "https://lake.minio.lake:9000/"),
])
def test_bucket_addresses_follow_the_region_and_addressing(region, settings, bucket, expected):
    assert address(replace(settings, region=region), bucket, "in/Kiwi/1.jpg") == expected + "in/Kiwi/1.jpg"


def test_a_key_is_taken_as_it_is_and_percent_encoded_once():
    url = address(S3Settings(endpoint="http://minio:9000"), "lake", "in/Pêche/#1?50% off+.jpg")
    assert url == "http://minio:9000/lake/in/P%C3%AAche/%231%3F50%25%20off%2B.jpg"


def test_s3_client_works_whatever_was_imported_first():
    """obstore brings its own TLS and HTTP (no libcurl): TensorFlow imported first changes nothing."""
    code = ("import tensorflow, datetime, obstore\n"
            "from fruits.config.job_config import S3Settings\nfrom fruits.storage.object_store import store\n"
            "print(obstore.sign(store(S3Settings(endpoint='http://127.0.0.1:9'), 'lake'), 'GET', 'a.jpg', "
            "datetime.timedelta(minutes=1)).split('?')[0])\n")
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "http://127.0.0.1:9/lake/a.jpg", result.stderr[-2000:]
