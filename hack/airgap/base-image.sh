#!/usr/bin/env bash
# Make sure the base image (default debian:bookworm-slim) exists in the Docker engine.
#
#   hack/airgap/base-image.sh [IMAGE]
#
# Present already: nothing to do. Pullable: pulled. Neither (no registry reachable, as on the
# project's build VMs): the Debian suite named by the tag is bootstrapped with
# `debootstrap --variant=minbase` from the host's Debian mirror and imported under the same tag,
# so the Dockerfile builds unchanged. The root filesystem tarball is kept under
# $FRUITS_CACHE/base and reused. Needs root and debootstrap for that last case.
set -euo pipefail

image="${1:-${BASE_IMAGE:-debian:bookworm-slim}}"
cache="${FRUITS_CACHE:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

say() { echo ">> $*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  say "base image $image is present"
  exit 0
fi
if docker pull --quiet "$image" >/dev/null 2>&1; then
  say "pulled base image $image"
  exit 0
fi

# debian:bookworm-slim -> bookworm; only Debian suites can be bootstrapped.
repo="${image%%:*}"
tag="${image#*:}"
suite="${tag%%-*}"
if [[ "${repo##*/}" != debian || "$tag" == "$image" ]]; then
  say "cannot pull $image and only debian:<suite>[-slim] tags can be bootstrapped here"
  exit 1
fi
for tool in debootstrap tar; do
  command -v "$tool" >/dev/null || { say "$tool is missing (Debian: apt-get install $tool)"; exit 1; }
done

arch="$(dpkg --print-architecture)"
tarball="$cache/base/debian-$suite-minbase-$arch.tar"
if [[ ! -s "$tarball" ]]; then
  [[ $(id -u) -eq 0 ]] || { say "debootstrap needs root"; exit 1; }
  mkdir -p "$cache/base"
  rootfs="$(mktemp -d "$cache/base/rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  say "debootstrap --variant=minbase $suite from $mirror (first time: a few minutes)"
  debootstrap --variant=minbase --arch="$arch" "$suite" "$rootfs" "$mirror" >"$cache/base/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/base/debootstrap.log" >&2; exit 1; }

  # What the official slim images also carry: the updates and security suites, and no docs,
  # man pages, translations or package caches.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/slim" <<'EOF'
APT::Install-Recommends "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi

say "importing $tarball as $image"
docker import --change 'CMD ["bash"]' "$tarball" "$image" >/dev/null
docker image ls "$image" >&2
