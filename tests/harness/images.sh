#!/usr/bin/env bash
# Build the test images the molecule scenarios and `make demo` run on:
#   sipstack-test/base:<release>       Debian itself (public image when pullable, else debootstrap)
#   <prefix>-test/systemd:<release>    target hosts: systemd as PID 1
#   <prefix>-test/sipclient:<release>  SIP client hosts: sipp, sipsak
#   <prefix>-test/mariadb:<release>    the integration tests' database (only when IMAGE_KINDS asks)
# Each derived image carries a label with the hash of its inputs and is rebuilt only when they change.
# <prefix> is SIPSTACK_TEST_PREFIX (default sipstack): a second checkout whose tests/images differ
# builds its own derived images instead of rebuilding these back and forth.
# Usage: [IMAGE_KINDS="systemd sipclient"] images.sh [debian12] [debian13]   (default: both)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
images_dir=$(cd "$here/../images" && pwd)
label=org.sipstack.inputs

log() { printf '[images] %s\n' "$*" >&2; }

codename() {
  case "$1" in
    debian12) echo bookworm ;;
    debian13) echo trixie ;;
    *) log "unknown release '$1' (known: debian12, debian13)"; exit 2 ;;
  esac
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_base() {
  local release=$1 suite tag=sipstack-test/base:$1 mirror root
  suite=$(codename "$release")
  image_exists "$tag" && return 0
  if timeout 60 docker pull "debian:$suite" >/dev/null 2>&1; then
    docker tag "debian:$suite" "$tag"
    log "$tag from the public debian:$suite image"
    return 0
  fi
  log "public image not reachable; debootstrapping $suite from this host's apt sources"
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  mirror=$(python3 "$here/apt_mirror.py")
  root=$(mktemp -d /var/tmp/sipstack-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { log "debootstrap failed, see $root.log"; return 1; }
  rm -f "$root.log"
  tar -C "$root" -c . | docker import - "$tag" >/dev/null
  log "$tag imported"
}

# Hash of everything a derived image is made of: its Dockerfile directory and its base image id.
inputs_hash() {
  local dir=$1 base=$2
  { tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 -cf - . ; docker image inspect -f '{{.Id}}' "$base"; } \
    | sha256sum | cut -c1-16
}

ensure_derived() {
  local kind=$1 release=$2 base=sipstack-test/base:$2 tag=${SIPSTACK_TEST_PREFIX:-sipstack}-test/$1:$2 want have
  want=$(inputs_hash "$images_dir/$kind" "$base")
  have=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$tag" 2>/dev/null || true)
  if [ "$want" = "$have" ]; then
    log "$tag up to date"
    return 0
  fi
  log "building $tag"
  local out
  out=$(docker build -q --build-arg "BASE=$base" --label "$label=$want" -t "$tag" "$images_dir/$kind" 2>&1) \
    || { printf '%s\n' "$out" >&2; log "building $tag failed"; return 1; }
}

bash "$here/docker.sh"
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(debian12 debian13)
for release in "${releases[@]}"; do
  codename "$release" >/dev/null
  ensure_base "$release"
  for kind in ${IMAGE_KINDS:-systemd sipclient}; do
    ensure_derived "$kind" "$release"
  done
done
