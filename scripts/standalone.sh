#!/usr/bin/env bash
# A Spark standalone cluster on this machine from the pinned pyspark: one master, N workers.
#   scripts/standalone.sh up      start (idempotent); prints the master URL
#   scripts/standalone.sh down    stop everything it started
# Then: fruits run --master spark://127.0.0.1:7077 --input ... --output ...
# Settings (env): STANDALONE_DIR (pids, logs, work dirs), MASTER_PORT, MASTER_UI_PORT, WORKERS,
# WORKER_CORES, WORKER_MEMORY, PYTHON (the interpreter whose pyspark is used).
set -euo pipefail
action="${1:-}"
dir="${STANDALONE_DIR:-out/standalone}"
python="${PYTHON:-.venv/bin/python}"
port="${MASTER_PORT:-7077}" ui="${MASTER_UI_PORT:-8080}"
workers="${WORKERS:-2}" cores="${WORKER_CORES:-1}" memory="${WORKER_MEMORY:-4g}"

spark_home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
spark_class="$spark_home/bin/spark-class"
master="spark://127.0.0.1:$port"

start() {  # start NAME CLASS ARGS...: background, own session, pid and log under $dir
  local name="$1"; shift
  if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$dir/$name.pid"))"; return
  fi
  SPARK_HOME="$spark_home" setsid "$spark_class" "$@" >"$dir/$name.log" 2>&1 < /dev/null &
  echo $! >"$dir/$name.pid"
  echo "started $name (pid $!), log $dir/$name.log"
}

wait_for_workers() {
  for _ in $(seq 1 120); do
    alive=$(curl -fsS "http://127.0.0.1:$ui/json/" 2>/dev/null | "$python" -c 'import json,sys; print(json.load(sys.stdin)["aliveworkers"])' 2>/dev/null || echo 0)
    [ "$alive" -ge "$workers" ] && { echo "$alive workers alive at $master"; return; }
    sleep 1
  done
  echo "workers did not register with $master; see $dir/*.log" >&2; exit 1
}

case "$action" in
  up)
    mkdir -p "$dir"
    start master org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port "$ui"
    for i in $(seq 1 "$workers"); do
      mkdir -p "$dir/work-$i"
      start "worker-$i" org.apache.spark.deploy.worker.Worker "$master" --host 127.0.0.1 \
        --cores "$cores" --memory "$memory" --work-dir "$dir/work-$i" --webui-port 0
    done
    wait_for_workers
    echo "master: $master (UI http://127.0.0.1:$ui)";;
  down)
    for pidfile in "$dir"/*.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill -TERM -- "-$pid" 2>/dev/null || true   # the whole session: worker and its executors
      rm -f "$pidfile"
    done
    echo "standalone cluster stopped";;
  *) echo "usage: $0 up|down" >&2; exit 2;;
esac
