#!/bin/sh
# Download Maven artifacts into a folder, each checked against the repository's .sha1 file.
#
#   fetch-jars.sh REPO_URL DEST group:artifact:version...
#
# Used by the Dockerfile to put the S3A jars into Spark's jars/ folder.
set -eu

repo="$1"
dest="$2"
shift 2
mkdir -p "$dest"
for coordinate in "$@"; do
  group="${coordinate%%:*}"
  rest="${coordinate#*:}"
  artifact="${rest%%:*}"
  version="${rest#*:}"
  jar="$artifact-$version.jar"
  url="$repo/$(echo "$group" | tr . /)/$artifact/$version/$jar"
  echo "fetch-jars: $url"
  curl --fail --silent --show-error --location --retry 3 -o "$dest/$jar" "$url"
  expected="$(curl --fail --silent --show-error --location --retry 3 "$url.sha1" | cut -c1-40)"
  actual="$(sha1sum "$dest/$jar" | cut -c1-40)"
  if [ "$expected" != "$actual" ]; then
    echo "fetch-jars: sha1 mismatch for $jar: Maven says $expected, got $actual" >&2
    rm -f "$dest/$jar"
    exit 1
  fi
  echo "fetch-jars: $jar ok (sha1 $actual, $(du -h "$dest/$jar" | cut -f1))"
done
