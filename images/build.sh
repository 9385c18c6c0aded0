#!/usr/bin/env bash
# Build the project's images with whatever Docker engine answers (started if none does).
#
#   images/build.sh app IMAGE [docker build args...]
#       images/Dockerfile; the context is a staged copy of pyproject.toml, README.md, app/ and
#       images/ (git's view: ignored files such as .venv or caches never reach the engine), plus
#       $WEIGHTS_FILE in images/weights/ when given. The base image is made first if missing.
#   images/build.sh operator IMAGE OPERATOR_BINARY [docker build args...]
#       images/operator.Dockerfile; the context holds the prebuilt controller binary alone.
#
# The app build tags its builder stage IMAGE-builder too (the next build's cache). Prints the image's
# uncompressed size at the end.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="${FRUITS_CACHE:-$root/.cache}"
say() { echo ">> $*" >&2; }

kind="${1:?usage: $0 app|operator IMAGE ...}"
image="${2:?usage: $0 app|operator IMAGE ...}"
shift 2

eval "$("$here/docker-up.sh")"

# One staging folder per build, so builds sharing a FRUITS_CACHE (CI) do not trip over each other.
mkdir -p "$cache/image-context"
context="$(mktemp -d "$cache/image-context/$kind.XXXXXX")"
trap 'rm -rf "$context"' EXIT

case "$kind" in
  app)
    "$root/hack/airgap/base-image.sh" "${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' "$here/Dockerfile")}"
    # Tracked and untracked-but-not-ignored files, as a fresh clone plus local edits would have.
    # shellcheck disable=SC2016 # $f is expanded by the inner sh
    (cd "$root" && git ls-files -z --cached --others --exclude-standard -- pyproject.toml README.md app images \
      | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ \
      | tar --null -T - -cf -) | tar -C "$context" -xf -
    if [[ ! -f "$context/README.md" ]]; then
      say "README.md is missing; the package metadata needs one, so an empty one is staged"
      : >"$context/README.md"
    fi
    # Extra CAs the host trusts (a TLS-intercepting proxy's, say) for the build's downloads only.
    mkdir -p "$context/images/ca"
    find "${BUILD_CA_DIR:-/usr/local/share/ca-certificates}" -name '*.crt' -exec cp {} "$context/images/ca/" \; 2>/dev/null || true
    if [[ -n "${WEIGHTS_FILE:-}" ]]; then
      mkdir -p "$context/images/weights"
      cp "$WEIGHTS_FILE" "$context/images/weights/"
    fi
    dockerfile="$context/images/Dockerfile"
    ;;
  operator)
    binary="${1:?usage: $0 operator IMAGE OPERATOR_BINARY ...}"
    shift
    cp "$binary" "$context/spark-operator"
    cp "$here/operator.Dockerfile" "$context/Dockerfile"
    dockerfile="$context/Dockerfile"
    ;;
  *)
    say "unknown image kind '$kind' (app or operator)"
    exit 64
    ;;
esac

say "docker build $image ($kind; context $context)"
start=$SECONDS
if [[ "$kind" == app ]]; then
  # The builder stage (the venv, jars and weights as downloaded) under a tag of its own, IMAGE-builder:
  # the build cache of the next build, and the one a rebuild replaces is pruned below.
  docker build -f "$dockerfile" --target builder -t "$image-builder" "$@" "$context"
fi
docker build -f "$dockerfile" -t "$image" "$@" "$context"
size="$(docker image inspect --format '{{.Size}}' "$image")"
# A rebuild leaves the previous image untagged. Remove this project's untagged images (the labels
# are set by images/Dockerfile, the first inherited by the operator image), or a day of rebuilds
# fills the engine's disk; untagged images of anyone else are left alone.
docker image prune --force --filter label=org.fruits.weights >/dev/null || true
docker image prune --force --filter label=org.fruits.stage=builder >/dev/null || true
say "built $image in $((SECONDS - start))s; uncompressed size $((size / 1000000)) MB ($size bytes)"
