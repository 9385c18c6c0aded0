#!/usr/bin/env bash
# The PostgreSQL image of the chart's kind setup (catalog.postgres.image in values.yaml): Debian's
# postgresql-MAJOR package on the Debian base image, running as UID 999 like the chart's pod spec
# (hack/airgap/catalog/: its Dockerfile and entrypoint). Rebuilt only when those files, the base
# image or the major version change.
#
# usage: hack/airgap/catalog-image.sh IMAGE BASE_IMAGE POSTGRES_MAJOR
set -euo pipefail
image=${1:?usage: $0 IMAGE BASE_IMAGE POSTGRES_MAJOR} base=${2:?} major=${3:?}
context=$(cd "$(dirname "$0")/catalog" && pwd)
sum=$({ cat "$context/Dockerfile" "$context/entrypoint.sh"; docker image inspect -f '{{.Id}}' "$base"; echo "$major"; } \
    | sha256sum | cut -c1-16)
if [[ $(docker image inspect -f '{{index .Config.Labels "org.fruits.catalog-sha256"}}' "$image" 2>/dev/null) == "$sum" ]]; then
    echo ">> $image is up to date"
    exit 0
fi
echo ">> docker build $image (postgresql-$major on $base)"
start=$SECONDS
docker build -q -t "$image" --build-arg BASE_IMAGE="$base" --build-arg POSTGRES_MAJOR="$major" \
    --label org.fruits.catalog-sha256="$sum" "$context" >/dev/null
echo ">> built $image in $((SECONDS - start)) s"
