#!/usr/bin/env bash
# Graceful executor shutdown: the script Spark's executor preStop hook runs
# (spark.kubernetes.decommission.script, default /opt/decom.sh) when
# spark.decommission.enabled=true and Kubernetes scales the executor down.
#
# SIGPWR asks the executor JVM to decommission: it stops taking tasks and migrates its shuffle
# and cached blocks; then it exits by itself. This script waits for that, for at most
# DECOM_TIMEOUT_S seconds (Kubernetes kills the pod at terminationGracePeriodSeconds anyway).
# What it did goes to stdout and to /dev/termination-log, where `kubectl describe pod` shows it.
set -uo pipefail

timeout_s="${DECOM_TIMEOUT_S:-600}"
termlog=/dev/termination-log

note() {
  local line
  line="$(date -u +%FT%TZ) decom: $*"
  echo "$line"
  { echo "$line" >>"$termlog"; } 2>/dev/null || true
}

# ps is not in the image: find the executor JVM through /proc.
executor_pid() {
  local cmdline pid
  for cmdline in /proc/[0-9]*/cmdline; do
    pid="${cmdline#/proc/}"
    pid="${pid%/cmdline}"
    # The JVM itself (argv[0] is java), not tini whose arguments also name the class.
    local args=()
    mapfile -d '' -t args <"$cmdline" 2>/dev/null || continue
    if [[ ${args[0]:-} == *java && " ${args[*]} " == *KubernetesExecutorBackend* ]]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

if ! pid="$(executor_pid)"; then
  note "no executor JVM found; nothing to decommission"
  exit 0
fi
note "sending SIGPWR to executor JVM $pid"
kill -s PWR "$pid" || { note "could not signal $pid"; exit 1; }

for ((waited = 0; waited < timeout_s; waited++)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    note "executor JVM $pid exited after ${waited}s"
    exit 0
  fi
  sleep 1
done
note "executor JVM $pid still running after ${timeout_s}s"
exit 1
