"""A real Spark Connect server for the tier: pip's pyspark started on a free port.

The server is a separate process (spark-submit of Spark's own SparkConnectServer); its clients are
processes of their own too (`fruits run --remote`, api_client.py), with no JVM, as on a laptop
talking to the cluster's server, and apart from the local Sparks of the tests' own process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import free_port, stop_process

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_SECONDS = 180


def stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test process dies, even killed, so no server outlives it."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


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
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                  preexec_fn=stop_with_parent)
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
