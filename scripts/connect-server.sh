#!/usr/bin/env bash
# A Spark Connect server on this machine from the pinned pyspark, for `fruits run --remote` and the
# notebook (FRUITS_REMOTE) without a cluster; its Python workers use the project's interpreter.
#   scripts/connect-server.sh up      start (idempotent); prints the sc:// URL
#   scripts/connect-server.sh down    stop it
# Settings (env): CONNECT_DIR (pid, log), CONNECT_PORT, CONNECT_MASTER, PYTHON.
set -euo pipefail
action="${1:-}"
dir="${CONNECT_DIR:-out/connect}"
python="${PYTHON:-.venv/bin/python}"
port="${CONNECT_PORT:-15002}" master="${CONNECT_MASTER:-local[*]}"
pidfile="$dir/server.pid"

case "$action" in
  up)
    mkdir -p "$dir"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "already running (pid $(cat "$pidfile")): sc://127.0.0.1:$port"; exit 0
    fi
    spark_home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
    interpreter=$("$python" -c 'import sys; print(sys.executable)')
    SPARK_HOME="$spark_home" PYSPARK_PYTHON="$interpreter" setsid "$spark_home/bin/spark-submit" \
      --class org.apache.spark.sql.connect.service.SparkConnectServer --master "$master" \
      --conf "spark.connect.grpc.binding.address=127.0.0.1" --conf "spark.connect.grpc.binding.port=$port" \
      >"$dir/server.log" 2>&1 < /dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      if "$python" -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
        echo "Spark Connect server ($master): sc://127.0.0.1:$port, log $dir/server.log"; exit 0
      fi
      kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "the server stopped; see $dir/server.log" >&2; exit 1; }
      sleep 1
    done
    echo "the server did not open port $port; see $dir/server.log" >&2; exit 1;;
  down)
    if [ -f "$pidfile" ]; then
      kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true   # its whole session: the JVM and its Python workers
      rm -f "$pidfile"
    fi
    echo "Spark Connect server stopped";;
  *) echo "usage: $0 up|down" >&2; exit 2;;
esac
