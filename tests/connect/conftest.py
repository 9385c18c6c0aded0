"""A real Spark Connect server for the tier: pip's pyspark started on a free port, the tests its clients.

The server is a separate process (spark-submit of Spark's own SparkConnectServer), so the clients
here have no JVM of their own, as on a laptop talking to the cluster's server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import free_port, stop_process

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_SECONDS = 180


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory):
    """sc://127.0.0.1:PORT of a Connect server (local[2]) whose Python workers use this interpreter."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable, "LC_ALL": "C.UTF-8"}
    command = [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--master", "local[2]",
               "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
               "--conf", "spark.ui.enabled=false", "--conf", "spark.ui.showConsoleProgress=false",
               "--conf", "spark.driver.memory=2g", "--conf", "spark.python.worker.reuse=true"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"sc://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"the Connect server stopped (exit {server.returncode}):\n{log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the Connect server did not open port {port} in {START_SECONDS} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        stop_process(server)


@pytest.fixture(scope="session")
def remote(connect_url):
    """A Spark Connect session: the client side only."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(connect_url).getOrCreate()
    assert type(session).__module__.startswith("pyspark.sql.connect")
    yield session
    session.stop()
