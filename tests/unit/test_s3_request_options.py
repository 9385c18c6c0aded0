"""Requester pays and server-side encryption reach the job's own S3 client (obstore) from the
environment's settings, under the names S3A uses for the same things (the chart sets both).

The clients are real obstore S3Stores, checked through the configuration they hold; MinIO is not
used here because it takes SSE-KMS only with a KMS configured."""

from __future__ import annotations

import pytest

from fruits.config.job_config import S3Settings
from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.storage.object_store import clear_clients, store


def client_config(environ: dict[str, str]) -> dict:
    clear_clients()
    s3 = S3Settings.from_settings(Settings.from_env({"FRUITS_S3_ENDPOINT": "http://127.0.0.1:9", **environ}))
    return store(s3, "lake").config


@pytest.mark.parametrize("environ, expected", [
    ({}, {}),
    ({"FRUITS_S3_REQUESTER_PAYS": "true"}, {"request_payer": "true"}),
    ({"FRUITS_S3_ENCRYPTION": "SSE-S3"}, {"server_side_encryption": "AES256"}),
    ({"FRUITS_S3_ENCRYPTION": "SSE-KMS", "FRUITS_S3_KMS_KEY_ID": "arn:aws:kms:us-east-1:111122223333:key/k"},
     {"server_side_encryption": "aws:kms", "sse_kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/k"}),
    ({"FRUITS_S3_ENCRYPTION": "DSSE-KMS"}, {"server_side_encryption": "aws:kms:dsse"}),
])
def test_settings_become_the_clients_options(environ, expected):
    config = client_config(environ)
    options = {k: config[k] for k in ("request_payer", "server_side_encryption", "sse_kms_key_id") if k in config}
    assert options == expected


@pytest.mark.parametrize("environ, message", [
    ({"FRUITS_S3_ENCRYPTION": "aws:kms"}, "FRUITS_S3_ENCRYPTION must be one of SSE-S3, SSE-KMS, DSSE-KMS, got 'aws:kms'"),
    ({"FRUITS_S3_ENCRYPTION": "SSE-S3", "FRUITS_S3_KMS_KEY_ID": "alias/lake"}, "FRUITS_S3_KMS_KEY_ID is set but"),
])
def test_a_bad_combination_is_a_clear_config_error(environ, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        client_config(environ)


def test_a_bad_requester_pays_value_is_refused():
    with pytest.raises(ConfigError, match="FRUITS_S3_REQUESTER_PAYS must be true or false"):
        Settings.from_env({"FRUITS_S3_REQUESTER_PAYS": "maybe"})


def test_s3a_of_a_local_spark_gets_the_same_options():
    from fruits.spark.session import s3a_settings

    s3 = S3Settings.from_settings(Settings.from_env({
        "FRUITS_S3_REQUESTER_PAYS": "true", "FRUITS_S3_ENCRYPTION": "SSE-KMS", "FRUITS_S3_KMS_KEY_ID": "alias/lake"}))
    options = {k: v for k, v in s3a_settings(s3).items() if "requester" in k or "encryption" in k}
    assert options == {"spark.hadoop.fs.s3a.requester.pays.enabled": "true",
                       "spark.hadoop.fs.s3a.encryption.algorithm": "SSE-KMS",
                       "spark.hadoop.fs.s3a.encryption.key": "alias/lake"}
    assert not any("requester" in k or "encryption" in k for k in s3a_settings(S3Settings()))
