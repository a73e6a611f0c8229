#!/usr/bin/env bash
# A private MariaDB for the module integration tests and the benchmarks, in a container built from
# the test base image (<prefix>-test/mariadb:debian12, see images.sh): the host installs no
# database server.
#
#   mariadb.sh start   start it (idempotent): build the image when needed, run the container
#                      <prefix>-testdb-mariadb published on 127.0.0.1:$KAMAILIO_TEST_DB_PORT
#                      (33306), copy Kamailio's MySQL schema files out of the image
#   mariadb.sh stop    remove the container (cleanup.sh removes it too)
#   mariadb.sh status  say whether it runs
#   mariadb.sh env     print `export KAMAILIO_TEST_DB_...=` lines for eval
#
# The generated admin password (admin.pw, mode 0600) and the schema files live under
# .cache/mariadb of this checkout (or $KAMAILIO_TEST_DB_DIR); the password reaches the container
# as a read-only mounted file, never on a command line or in its environment. Set
# SIPSTACK_TEST_PREFIX and KAMAILIO_TEST_DB_PORT to run a second, independent instance.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${KAMAILIO_TEST_DB_DIR:-$root/.cache/mariadb}
pwfile=$base/admin.pw
port=${KAMAILIO_TEST_DB_PORT:-33306}
prefix=${SIPSTACK_TEST_PREFIX:-sipstack}
release=debian12
image=$prefix-test/mariadb:$release
container=$prefix-testdb-mariadb
admin=kamtest
schema_dir=$base/schema

log() { printf '[mariadb] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

running() {
  [ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ] \
    && docker exec "$container" test -f /run/testdb-ready 2>/dev/null
}

ensure_password() {
  mkdir -p "$base"
  if [ ! -s "$pwfile" ]; then
    (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile")
  fi
  chmod 0600 "$pwfile"
}

# Kamailio's schema files, as the image's kamailio-mysql-modules ships them.
copy_schema() {
  [ -f "$schema_dir/standard-create.sql" ] && [ "$(cat "$base/schema.image" 2>/dev/null)" = "$1" ] && return 0
  rm -rf "$schema_dir"
  mkdir -p "$base"
  docker cp "$container:/usr/share/kamailio/mysql" "$schema_dir" >/dev/null
  printf '%s\n' "$1" >"$base/schema.image"
  [ -f "$schema_dir/standard-create.sql" ] || die "no standard-create.sql in $image"
}

start() {
  IMAGE_KINDS=mariadb bash "$here/images.sh" "$release" || die "building $image failed"
  ensure_password
  if running; then
    log "already running ($container, 127.0.0.1:$port)"
  else
    docker rm -f "$container" >/dev/null 2>&1 || true
    log "starting $container on 127.0.0.1:$port"
    docker run -d --name "$container" -p "127.0.0.1:$port:3306" \
      -v "$pwfile:/run/testdb/admin.pw:ro" --tmpfs /tmp "$image" >/dev/null
    local _
    for _ in $(seq 1 240); do
      running && break
      [ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ] || break
      sleep 0.25
    done
    running || { docker logs --tail 30 "$container" >&2 2>&1 || true; die "$container did not come up"; }
    log "ready ($container, 127.0.0.1:$port)"
  fi
  copy_schema "$(docker inspect -f '{{.Image}}' "$container")"
}

stop() {
  if docker rm -f "$container" >/dev/null 2>&1; then log "removed $container"; else log "not running"; fi
}

env_lines() {
  [ -s "$pwfile" ] || die "no admin password yet: run '$0 start' first"
  cat <<ENV
export KAMAILIO_TEST_DB_HOST=127.0.0.1
export KAMAILIO_TEST_DB_PORT=$port
export KAMAILIO_TEST_DB_USER=$admin
export KAMAILIO_TEST_DB_PASSWORD=$(cat "$pwfile")
export KAMAILIO_TEST_DB_SCHEMA_DIR=$schema_dir
ENV
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running ($container, 127.0.0.1:$port)"; else echo "stopped"; exit 3; fi ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
