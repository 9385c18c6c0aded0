#!/usr/bin/env bash
# The Debian packages pinned in Dockerfiles (`apt-get install name=version`) against the versions the
# mirror offers now, so that a pin Debian has superseded (a security or point release removes the
# old version from the mirror, and the build then fails with "Version ... was not found") is
# refreshed with one command.
#
#   images/apt-pins.sh [--write] BASE_IMAGE DOCKERFILE...
#
# Prints "package pinned candidate" for every literal pin; --write puts the candidates in place.
# Pins written through an ARG (hack/airgap/catalog: POSTGRES_VERSION) are listed by name only.
set -euo pipefail

write=no
if [[ "${1:-}" == --write ]]; then
  write=yes
  shift
fi
base="${1:?usage: $0 [--write] BASE_IMAGE DOCKERFILE...}"
shift
(($#)) || { echo "usage: $0 [--write] BASE_IMAGE DOCKERFILE..." >&2; exit 64; }

# name=version words (Debian names: lower case, digits, + - .; versions start with a digit).
pins="$(grep -ohE '(^|[[:space:]"])[a-z0-9][a-z0-9.+-]+=[0-9][^[:space:]\\;"]*' "$@" | tr -d ' "\t' | sort -u)"
[[ -n "$pins" ]] || { echo "no name=version pins in $*" >&2; exit 1; }
mapfile -t names < <(cut -d= -f1 <<<"$pins")
arg_pins="$(grep -ohE '"[a-z0-9.+-]*\$\{[A-Z_]+\}=\$\{[A-Z_]+\}"' "$@" | sort -u || true)"

# The candidates in the base image, after an apt-get update against its own sources.
candidates="$(docker run --rm "$base" sh -c 'apt-get update -qq >/dev/null && apt-cache policy "$@"' _ "${names[@]}" \
  | awk '/^[^ ].*:$/ {name = substr($1, 1, length($1) - 1)} /Candidate:/ {print name, $2}')"

stale=0
while IFS='=' read -r name pinned; do
  candidate="$(awk -v n="$name" '$1 == n {print $2}' <<<"$candidates")"
  mark=""
  if [[ "$candidate" != "$pinned" ]]; then
    mark=" (stale)"
    stale=$((stale + 1))
    if [[ "$write" == yes && -n "$candidate" && "$candidate" != "(none)" ]]; then
      sed -i "s/\b${name//./\\.}=${pinned//./\\.}\b/$name=$candidate/g" "$@"
    fi
  fi
  echo "$name $pinned ${candidate:-(none)}$mark"
done <<<"$pins"
[[ -z "$arg_pins" ]] || echo "pinned through ARGs, check by hand: $arg_pins"
echo "$stale stale pin(s)$([[ "$write" == yes ]] && echo ", rewritten")" >&2
