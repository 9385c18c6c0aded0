"""The Toxiproxy helper against the session's MinIO: bytes pass unchanged, toxics do what they say.

These check the helper that latency tests and `make bench-s3` rely on. The only time compared is
a lower bound (a latency toxic makes a GET at least that much slower), never a speed.
"""

from __future__ import annotations

import os
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from s3kit import BUCKET, s3_client
from toxiproxy import ToxiproxyError

pytestmark = pytest.mark.s3

LATENCY_MS = 150


def fresh_client(endpoint: str):
    """No retries and short timeouts: a toxic that breaks a request fails the call at once."""
    return s3_client(endpoint, retries={"max_attempts": 1}, connect_timeout=5, read_timeout=5)


def timed_get(client, key: str) -> tuple[bytes, float]:
    started = time.perf_counter()
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body, time.perf_counter() - started


def test_proxy_passes_bytes_both_ways(minio, minio_proxy):
    payload = os.urandom(3 << 20)  # several TCP reads each way, with a byte pattern no copy keeps by luck
    through = fresh_client(minio_proxy.endpoint)
    through.put_object(Bucket=BUCKET, Key="toxiproxy/up.bin", Body=payload)
    assert minio.client().get_object(Bucket=BUCKET, Key="toxiproxy/up.bin")["Body"].read() == payload
    minio.client().put_object(Bucket=BUCKET, Key="toxiproxy/down.bin", Body=payload[::-1])
    assert through.get_object(Bucket=BUCKET, Key="toxiproxy/down.bin")["Body"].read() == payload[::-1]
    listed = through.list_objects_v2(Bucket=BUCKET, Prefix="toxiproxy/")["Contents"]
    assert {o["Key"] for o in listed} >= {"toxiproxy/up.bin", "toxiproxy/down.bin"}


def test_latency_toxic_delays_every_get_and_goes_away(minio, minio_proxy):
    minio.client().put_object(Bucket=BUCKET, Key="toxiproxy/small.txt", Body=b"apple")
    client = fresh_client(minio_proxy.endpoint)
    timed_get(client, "toxiproxy/small.txt")  # the connection is open before anything is timed
    with minio_proxy.latency(LATENCY_MS, jitter=0) as toxic:
        assert [t["name"] for t in minio_proxy.toxics()] == [toxic.name]
        assert toxic.attributes == {"latency": LATENCY_MS, "jitter": 0}
        for _ in range(3):  # on the open connection and on each further GET, not once per connection
            body, seconds = timed_get(client, "toxiproxy/small.txt")
            assert body == b"apple"
            assert seconds >= LATENCY_MS / 1000
        toxic.update(latency=2 * LATENCY_MS)
        assert timed_get(client, "toxiproxy/small.txt")[1] >= 2 * LATENCY_MS / 1000
    assert minio_proxy.toxics() == []


def test_reset_peer_follows_its_toxicity(minio, minio_proxy):
    minio.client().put_object(Bucket=BUCKET, Key="toxiproxy/reset.txt", Body=b"pear")
    with minio_proxy.reset_peer(toxicity=1.0), pytest.raises((BotoCoreError, ClientError)):
        fresh_client(minio_proxy.endpoint).get_object(Bucket=BUCKET, Key="toxiproxy/reset.txt")["Body"].read()
    with minio_proxy.reset_peer(toxicity=0.0):
        assert fresh_client(minio_proxy.endpoint).get_object(Bucket=BUCKET, Key="toxiproxy/reset.txt")["Body"].read() == b"pear"


def test_limit_data_cuts_a_response_short(minio, minio_proxy):
    minio.client().put_object(Bucket=BUCKET, Key="toxiproxy/long.bin", Body=os.urandom(1 << 20))
    with minio_proxy.limit_data(toxicity=1.0, nbytes=4096), pytest.raises((BotoCoreError, ClientError)):
        fresh_client(minio_proxy.endpoint).get_object(Bucket=BUCKET, Key="toxiproxy/long.bin")["Body"].read()


def test_api_refusals_and_bad_arguments_are_errors(minio_proxy):
    with minio_proxy.latency(10), pytest.raises(ToxiproxyError, match="409|exists"):
        minio_proxy.latency(10)
    with pytest.raises(ValueError, match="toxicity"):
        minio_proxy.reset_peer(toxicity=1.5)
    with pytest.raises(ValueError, match="stream"):
        minio_proxy.latency(10, stream="sideways")
    with pytest.raises(ToxiproxyError, match="404|not found"):
        minio_proxy.remove_toxic("no_such_toxic")
