#!/usr/bin/env bash
# The MinIO image of the chart's kind setup (minio.image in values.yaml): the pinned bin/minio
# (`make minio`) on the Debian base image, running as UID 1000 like the chart's pod spec.
#
# usage: hack/airgap/minio-image.sh IMAGE BASE_IMAGE MINIO_BINARY
set -euo pipefail
image=${1:?usage: $0 IMAGE BASE_IMAGE MINIO_BINARY} base=${2:?} binary=${3:?}
sum=$(sha256sum "$binary" | cut -c1-16)
if [[ $(docker image inspect -f '{{index .Config.Labels "org.fruits.minio-sha256"}}' "$image" 2>/dev/null) == "$sum" ]]; then
    echo ">> $image is up to date"
    exit 0
fi
ctx=$(mktemp -d "${TMPDIR:-/tmp}/minio-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp "$binary" "$ctx/minio"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY minio /usr/local/bin/minio
ENV HOME=/tmp
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/minio"]
DOCKERFILE
echo ">> docker build $image"
docker build -q -t "$image" --label org.fruits.minio-sha256="$sum" "$ctx" >/dev/null
