#!/usr/bin/env bash
# Smoke-test the app image the way Spark on Kubernetes uses it, without a cluster.
#
#   images/smoke-test.sh [IMAGE]
#
# 1. the job, TensorFlow and pyspark import; the weights label and env agree; size <= 3 GB; nothing
#    of the build (builder stage, CA files, weights source, build tools, TensorFlow's headers) left
# 2. an arbitrary UID (no passwd entry) gets a user name and runs spark-submit
# 3. the executor role refuses to start without Spark's variables
# 4. the executor role for real: a standalone master and a client-mode driver in two containers,
#    and this image's `executor` role, run as an arbitrary UID, registered with that driver from
#    the SPARK_* variables a Kubernetes executor pod gets (the Java options taken from the driver,
#    as Spark does); it runs Python tasks; then /opt/decom.sh decommissions it and it exits.
# 5. S3A with the slimmed AWS SDK: Parquet written to and read back from a MinIO server on this
#    host (skipped when there is no MinIO binary: `make minio` builds bin/minio).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-fruits-pipeline:0.1.0}"
max_bytes=3000000000
eval "$("$here/docker-up.sh")"

say() { echo ">> $*" >&2; }
fail() {
  say "FAIL: $*"
  exit 1
}

say "1. imports, weights record, size"
docker run --rm -e TF_CPP_MIN_LOG_LEVEL=3 "$image" python -c 'import fruits, tensorflow, pyspark; print("fruits", fruits.__file__, "tensorflow", tensorflow.__version__, "pyspark", pyspark.__version__)'
label="$(docker image inspect --format '{{index .Config.Labels "org.fruits.weights"}}' "$image")"
env_weights="$(docker run --rm "$image" printenv FRUITS_IMAGE_WEIGHTS)"
[[ -n "$label" && "$label" == "$env_weights" ]] || fail "weights label '$label' and FRUITS_IMAGE_WEIGHTS '$env_weights' differ"
size="$(docker image inspect --format '{{.Size}}' "$image")"
say "weights: $label; size: $((size / 1000000)) MB"
((size <= max_bytes)) || fail "image is $size bytes, over the $max_bytes budget"
[[ "$(docker image inspect --format '{{.Config.User}}' "$image")" == 185 ]] || fail "image does not run as UID 185"

say "1b. nothing of the build left: no builder-stage layer, CA file, weights source or build tool"
history="$(docker history --no-trunc --format '{{.CreatedBy}}' "$image")"
[[ "$history" != *build-ca* && "$history" != *PIP_CERT* ]] || fail "a layer of the image was made with the build's CA files"
docker run --rm "$image" bash -c '
  set -u; bad=0
  for path in /tmp/build-ca /tmp/weights /tmp/requirements.lock /tmp/fruits-image /root/.cache/pip \
      "$(python -c "import sysconfig; print(sysconfig.get_paths()[\"purelib\"])")/tensorflow/include"; do
    [ ! -e "$path" ] || { echo "left behind: $path"; bad=1; }
  done
  for tool in gcc cc g++ make; do ! command -v "$tool" >/dev/null || { echo "build tool in the image: $tool"; bad=1; }; done
  ! dpkg -s python3-venv >/dev/null 2>&1 || { echo "python3-venv (a build package) is installed"; bad=1; }
  stray="$(find / -xdev -name "*.h5" -size +1M -not -path "/opt/keras/models/*" 2>/dev/null)"
  [ -z "$stray" ] || { echo "weights outside /opt/keras/models: $stray"; bad=1; }
  exit "$bad"' || fail "build leftovers in the image (above)"

say "2. arbitrary UID 12345: user name and spark-submit --version"
docker run --rm --user 12345 "$image" bash -c 'id && python -c "import getpass; print(getpass.getuser())"'
out="$(docker run --rm --user 12345 "$image" spark-submit --version 2>&1)" || fail "spark-submit --version as UID 12345: $out"
grep -o -m 1 'version [0-9.]*' <<<"$out"

say "3. executor role without Spark's variables"
rc=0
out="$(docker run --rm "$image" executor 2>&1)" || rc=$?
[[ $rc -eq 64 && "$out" == *SPARK_DRIVER_URL* ]] || fail "expected exit 64 naming SPARK_DRIVER_URL, got $rc: $out"

say "4. executor role against a real driver, then decommission"
net="fruits-smoke-$$"
cleanup() { docker rm -f "$net-master" "$net-driver" "$net-executor" >/dev/null 2>&1 || true; docker network rm "$net" >/dev/null 2>&1 || true; }
trap cleanup EXIT
docker network create "$net" >/dev/null
docker run -d --name "$net-master" --network "$net" --network-alias master "$image" \
  spark-class org.apache.spark.deploy.master.Master --host master --port 7077 >/dev/null
driver_py='
import os, sys, time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("spark://master:7077").appName("smoke")
         .config("spark.driver.host", "driver").config("spark.driver.port", "7078")
         .config("spark.decommission.enabled", "true").getOrCreate())
conf = spark.sparkContext.getConf()
print("JAVA_OPTS=" + " ".join([conf.get("spark.executor.defaultJavaOptions", ""),
                               conf.get("spark.executor.extraJavaOptions", ""),
                               "-Dspark.driver.port=7078"]).strip(), flush=True)
def where(i):
    import getpass, os, sys
    return (sys.executable, getpass.getuser(), os.getuid())
print("TASKS=" + repr(set(spark.sparkContext.parallelize(range(8), 4).map(where).collect())), flush=True)
time.sleep(600)
'
docker run -d --name "$net-driver" --network "$net" --network-alias driver "$image" \
  python -c "$driver_py" >/dev/null
for ((i = 0; i < 120; i++)); do
  opts="$(docker logs "$net-driver" 2>/dev/null | sed -n 's/^JAVA_OPTS=//p')"
  [[ -n "$opts" ]] && break
  sleep 1
done
[[ -n "$opts" ]] || { docker logs "$net-driver" | tail -n 30; fail "driver did not start"; }
# One SPARK_JAVA_OPT_<n> per option, as Spark writes them on executor pods.
env_args=()
n=0
for opt in $opts; do
  env_args+=(-e "SPARK_JAVA_OPT_$n=$opt")
  n=$((n + 1))
done
docker run -d --name "$net-executor" --network "$net" --network-alias executor --user 12345 \
  -e SPARK_DRIVER_URL=spark://CoarseGrainedScheduler@driver:7078 -e SPARK_EXECUTOR_ID=1 \
  -e SPARK_EXECUTOR_CORES=2 -e SPARK_APPLICATION_ID=smoke -e SPARK_EXECUTOR_POD_IP=executor \
  -e SPARK_RESOURCE_PROFILE_ID=0 -e SPARK_EXECUTOR_POD_NAME=smoke-exec-1 -e SPARK_EXECUTOR_MEMORY=512m \
  "${env_args[@]}" "$image" executor >/dev/null
for ((i = 0; i < 180; i++)); do
  tasks="$(docker logs "$net-driver" 2>/dev/null | sed -n 's/^TASKS=//p')"
  [[ -n "$tasks" ]] && break
  sleep 1
done
[[ -n "$tasks" ]] || { docker logs "$net-executor" 2>&1 | tail -n 40; fail "no tasks ran on the executor"; }
say "tasks ran on the executor as: $tasks"
[[ "$tasks" == *"/opt/venv/bin/python"*12345* ]] || fail "tasks did not run in the venv's Python as UID 12345"

# The container ends when the JVM does, which may cut this exec short.
docker exec "$net-executor" /opt/decom.sh || true
for ((i = 0; i < 60; i++)); do
  [[ "$(docker inspect --format '{{.State.Running}}' "$net-executor")" == false ]] && break
  sleep 1
done
[[ "$(docker inspect --format '{{.State.Running}}' "$net-executor")" == false ]] \
  || { docker logs "$net-executor" 2>&1 | tail -n 20; fail "executor still running 60s after decom.sh"; }
docker logs "$net-executor" 2>&1 | grep -i -m 3 'decommission' || true

minio="${MINIO_BIN:-$(dirname "$here")/bin/minio}"
if [[ ! -x "$minio" ]]; then
  say "5. skipped: no MinIO binary at $minio"
else
  say "5. S3A round trip against MinIO ($minio)"
  port=$((20000 + RANDOM % 20000))
  data="$(mktemp -d)"
  MINIO_ROOT_USER=smoke MINIO_ROOT_PASSWORD=smoke-secret "$minio" server --quiet \
    --address "127.0.0.1:$port" --console-address "127.0.0.1:$((port + 1))" "$data" >"$data.log" 2>&1 &
  minio_pid=$!
  trap 'cleanup; kill $minio_pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
  for ((i = 0; i < 30; i++)); do
    curl -fsS "http://127.0.0.1:$port/minio/health/live" >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user smoke:smoke-secret -X PUT "http://127.0.0.1:$port/smoke" \
    || fail "could not create the bucket (MinIO log: $(tail -n 5 "$data.log"))"
  s3a_py='
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]")
         .config("spark.hadoop.fs.s3a.endpoint", sys.argv[1])
         .config("spark.hadoop.fs.s3a.endpoint.region", "us-east-1")
         .config("spark.hadoop.fs.s3a.path.style.access", "true")
         .config("spark.hadoop.fs.s3a.connection.ssl.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .getOrCreate())
spark.range(1000).selectExpr("id", "id * 2 AS twice").write.mode("overwrite").parquet("s3a://smoke/t")
n = spark.read.parquet("s3a://smoke/t").where("twice % 4 = 0").count()
print("S3A_ROWS=%d" % n)
'
  out="$(docker run --rm --network host --user 12345 -e AWS_ACCESS_KEY_ID=smoke -e AWS_SECRET_ACCESS_KEY=smoke-secret \
    "$image" python -c "$s3a_py" "http://127.0.0.1:$port" 2>&1)" || { tail -n 40 <<<"$out"; fail "S3A round trip"; }
  grep -q "S3A_ROWS=500$" <<<"$out" || { tail -n 40 <<<"$out"; fail "S3A read back the wrong rows"; }
  say "S3A wrote and read back Parquet through MinIO"
fi
say "smoke test passed: $image"
