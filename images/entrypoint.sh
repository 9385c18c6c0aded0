#!/usr/bin/env bash
# Container entrypoint for the fruits-pipeline image, in the roles Spark on Kubernetes asks for.
#
#   driver ARGS...     spark-submit in client mode inside the driver pod (Spark passes
#                      --properties-file, --class and the main file); binds to the pod's address.
#   executor           the KubernetesExecutorBackend JVM, configured from the SPARK_* variables
#                      Spark sets on executor pods (driver URL, id, cores, memory, Java options).
#   anything else      run as given (fruits, python, spark-submit, bash, ...).
#
# Everything runs under tini, so signals reach the process and zombies are reaped. Any UID works:
# one without a passwd entry (Kubernetes runAsUser, OpenShift) gets a synthetic one through
# nss_wrapper, because the JVM's Unix login (Hadoop's UserGroupInformation) needs a user name.
set -euo pipefail

# The JVMs name files in the locale's character set (POSIX: ASCII, so 'Pêche' becomes 'P?che').
# Whatever the pod's environment says, give them UTF-8.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
  *UTF-8* | *utf8* | *UTF8* | *utf-8*) ;;
  *) export LC_ALL=C.UTF-8 ;;
esac

log() { echo "entrypoint: $*" >&2; }

ensure_passwd_entry() {
  local uid gid wrapper dir
  uid="$(id -u)"
  gid="$(id -g)"
  getent passwd "$uid" >/dev/null 2>&1 && return 0
  for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
    [[ -s "$wrapper" ]] || continue
    if dir="$(mktemp -d "${TMPDIR:-/tmp}/nss.XXXXXX" 2>/dev/null)"; then
      cp /etc/passwd "$dir/passwd"
      cp /etc/group "$dir/group"
      echo "${SPARK_USER_NAME:-spark-$uid}:x:$uid:$gid:anonymous uid:${HOME:-/tmp}:/usr/sbin/nologin" >>"$dir/passwd"
      getent group "$gid" >/dev/null 2>&1 || echo "spark:x:$gid:" >>"$dir/group"
      export LD_PRELOAD="$wrapper${LD_PRELOAD:+ $LD_PRELOAD}" NSS_WRAPPER_PASSWD="$dir/passwd" NSS_WRAPPER_GROUP="$dir/group"
      return 0
    fi
  done
  if [[ -w /etc/passwd ]]; then
    echo "${SPARK_USER_NAME:-spark-$uid}:x:$uid:$gid:anonymous uid:${HOME:-/tmp}:/usr/sbin/nologin" >>/etc/passwd
    return 0
  fi
  log "no passwd entry for UID $uid and none could be added; Hadoop may fail to log in"
}

# The JVM classpath the executor needs, in Spark's order: configuration first, then Spark's jars.
spark_classpath() {
  local cp="${SPARK_HOME}/jars/*"
  [[ -n "${SPARK_EXTRA_CLASSPATH:-}" ]] && cp="$cp:$SPARK_EXTRA_CLASSPATH"
  [[ -n "${HADOOP_CONF_DIR:-}" ]] && cp="$HADOOP_CONF_DIR:$cp"
  cp="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$cp"
  [[ -n "${SPARK_DIST_CLASSPATH:-}" ]] && cp="$cp:$SPARK_DIST_CLASSPATH"
  echo "$cp"
}

# SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in numeric order, one option each (values may hold spaces).
executor_java_opts() {
  local name
  while read -r name; do
    executor_opts+=("${!name}")
  done < <(compgen -e | sed -n 's/^SPARK_JAVA_OPT_\([0-9][0-9]*\)$/\1 &/p' | sort -n | cut -d' ' -f2)
}

require() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || { log "$name is not set; is this an executor pod created by Spark?"; exit 64; }
  done
}

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
}

: "${SPARK_HOME:?SPARK_HOME must be set}"
ensure_passwd_entry
# A UID without a passwd entry gets HOME=/; caches (Keras, Matplotlib, Ivy) need a writable one.
[[ -w "${HOME:-/}" ]] || export HOME="${TMPDIR:-/tmp}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-python3}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PYSPARK_PYTHON}"

if [[ $# -eq 0 ]]; then
  usage
  exit 64
fi

case "$1" in
  driver)
    shift
    require SPARK_DRIVER_BIND_ADDRESS
    cmd=("$SPARK_HOME/bin/spark-submit"
      --conf "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS"
      --deploy-mode client
      "$@")
    ;;
  executor)
    shift
    require SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES SPARK_APPLICATION_ID \
      SPARK_EXECUTOR_POD_IP SPARK_EXECUTOR_MEMORY
    executor_opts=()
    executor_java_opts
    cmd=("${JAVA_HOME:+$JAVA_HOME/bin/}java"
      "${executor_opts[@]}"
      "-Xms$SPARK_EXECUTOR_MEMORY" "-Xmx$SPARK_EXECUTOR_MEMORY"
      -cp "$(spark_classpath)"
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend
      --driver-url "$SPARK_DRIVER_URL"
      --executor-id "$SPARK_EXECUTOR_ID"
      --cores "$SPARK_EXECUTOR_CORES"
      --app-id "$SPARK_APPLICATION_ID"
      --hostname "$SPARK_EXECUTOR_POD_IP"
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}"
      --podName "${SPARK_EXECUTOR_POD_NAME:-$(hostname)}"
      "$@")
    ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  *)
    cmd=("$@")
    ;;
esac

exec /usr/bin/tini -s -- "${cmd[@]}"
