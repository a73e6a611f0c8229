#!/usr/bin/env bash
# A private MariaDB for the module integration tests and the benchmark.
#
#   mariadb.sh start   start it (idempotent); installs mariadb-server when mariadbd is missing and
#                      fetches Kamailio's MySQL schema files from kamailio-mysql-modules
#   mariadb.sh stop    stop it (by its pid file)
#   mariadb.sh status  say whether it runs
#   mariadb.sh env     print `export KAMAILIO_TEST_DB_...=` lines for eval
#
# Everything lives under .cache/mariadb of this checkout (or $KAMAILIO_TEST_DB_DIR): datadir,
# socket, pid file, log and the generated admin password (admin.pw, mode 0600). The server listens
# on 127.0.0.1 only, on port $KAMAILIO_TEST_DB_PORT (33306). Set both variables to run a second,
# independent instance (for example next to a test run of another checkout user). Whether it runs is decided by its pid file and a ping on its own
# socket, never by process name: `ps` also lists the mariadbd processes of docker containers.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
base=${KAMAILIO_TEST_DB_DIR:-$root/.cache/mariadb}
datadir=$base/data
socket=$base/mysqld.sock
pidfile=$base/mysqld.pid
logfile=$base/mysqld.log
pwfile=$base/admin.pw
port=${KAMAILIO_TEST_DB_PORT:-33306}
admin=kamtest
schema_root=$root/.cache/kamailio-schema
schema_dir=$schema_root/usr/share/kamailio/mysql

log() { printf '[mariadb] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

find_bin() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    if [ -x "/usr/sbin/$name" ]; then echo "/usr/sbin/$name"; return 0; fi
  done
  return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "cannot install $*: run as root on Debian, or install it yourself"
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  }
}

ensure_server_package() {
  if ! find_bin mariadbd mysqld >/dev/null || ! find_bin mariadb-install-db mysql_install_db >/dev/null; then
    apt_install mariadb-server mariadb-client
  fi
}

# Kamailio's schema without installing Kamailio: unpack kamailio-mysql-modules into .cache.
ensure_schema() {
  [ -f "$schema_dir/standard-create.sql" ] && return 0
  local tmp deb
  tmp=$(mktemp -d)
  # apt-get download drops root and writes as _apt where it can.
  if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  log "fetching kamailio-mysql-modules for the schema files"
  if ! (cd "$tmp" && apt-get download -qq kamailio-mysql-modules >/dev/null 2>&1); then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; fi
    (cd "$tmp" && apt-get download -qq kamailio-mysql-modules >/dev/null 2>&1) \
      || { rm -rf "$tmp"; die "apt-get download kamailio-mysql-modules failed"; }
  fi
  deb=$(ls "$tmp"/kamailio-mysql-modules_*.deb)
  rm -rf "$schema_root"
  mkdir -p "$schema_root"
  dpkg-deb -x "$deb" "$schema_root"
  rm -rf "$tmp"
  [ -f "$schema_dir/standard-create.sql" ] || die "no standard-create.sql in $deb"
}

# The pid in our pid file, if that process is alive and is the server of our datadir (a stale pid
# file may name a pid that was reused since, perhaps by a container's mariadbd).
our_pid() {
  local pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--datadir=$datadir" || return 1
  echo "$pid"
}

# Only this script's own server counts: our live pid that answers on our socket.
running() {
  our_pid >/dev/null && ping_server
}

ping_server() {
  [ -S "$socket" ] || return 1
  "$(find_bin mariadb-admin mysqladmin)" --no-defaults --socket="$socket" -uroot \
    --connect-timeout=2 ping >/dev/null 2>&1
}

server_user_args() {
  if [ "$(id -u)" = 0 ]; then echo "--user=root"; fi
}

init_datadir() {
  [ -d "$datadir/mysql" ] && return 0
  log "initialising $datadir"
  rm -rf "$datadir"
  mkdir -p "$datadir"
  # shellcheck disable=SC2046
  "$(find_bin mariadb-install-db mysql_install_db)" --no-defaults --datadir="$datadir" \
    $(server_user_args) --auth-root-authentication-method=socket --skip-test-db \
    >"$base/install-db.log" 2>&1 || { cat "$base/install-db.log" >&2; die "mariadb-install-db failed"; }
}

sql_root() {
  "$(find_bin mariadb mysql)" --no-defaults --socket="$socket" -uroot
}

ensure_admin() {
  local pw
  if [ ! -s "$pwfile" ]; then
    (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile")
  fi
  chmod 0600 "$pwfile"
  pw=$(cat "$pwfile")
  # Statements on stdin, so the password never shows up in a process listing.
  sql_root <<SQL
CREATE USER IF NOT EXISTS '$admin'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$admin'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$admin'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$admin'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO '$admin'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$admin'@'localhost' WITH GRANT OPTION;
SQL
}

start() {
  mkdir -p "$base"
  ensure_server_package
  ensure_schema
  if running; then
    ensure_admin
    log "already running (pid $(cat "$pidfile"), port $port)"
    return 0
  fi
  rm -f "$pidfile" "$socket"
  init_datadir
  log "starting on 127.0.0.1:$port"
  # shellcheck disable=SC2046
  setsid "$(find_bin mariadbd mysqld)" --no-defaults --datadir="$datadir" $(server_user_args) \
    --socket="$socket" --pid-file="$pidfile" --port="$port" --bind-address=127.0.0.1 \
    --log-error="$logfile" --skip-name-resolve --skip-log-bin \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=64M \
    --innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_general_ci --max-connections=200 \
    </dev/null >/dev/null 2>&1 &
  local i
  for i in $(seq 1 120); do
    if ping_server && [ -s "$pidfile" ]; then
      ensure_admin
      log "ready (pid $(cat "$pidfile"), port $port, socket $socket)"
      return 0
    fi
    sleep 0.25
    [ "$i" -gt 8 ] && ! kill -0 $! 2>/dev/null && break
  done
  tail -n 30 "$logfile" >&2 2>/dev/null || true
  die "the server did not come up (log: $logfile)"
}

stop() {
  local pid i
  if [ ! -f "$pidfile" ]; then log "not running"; return 0; fi
  if ! pid=$(our_pid); then
    rm -f "$pidfile"
    log "not running (stale pid file removed)"
    return 0
  fi
  kill -TERM "$pid"
  for i in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { log "stopped"; rm -f "$pidfile"; return 0; }
    sleep 0.25
  done
  die "pid $pid did not stop within 30 s"
}

env_lines() {
  [ -s "$pwfile" ] || die "no admin password yet: run '$0 start' first"
  cat <<EOF
export KAMAILIO_TEST_DB_HOST=127.0.0.1
export KAMAILIO_TEST_DB_PORT=$port
export KAMAILIO_TEST_DB_SOCKET=$socket
export KAMAILIO_TEST_DB_USER=$admin
export KAMAILIO_TEST_DB_PASSWORD=$(cat "$pwfile")
export KAMAILIO_TEST_DB_SCHEMA_DIR=$schema_dir
EOF
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$pidfile"), port $port)"; else echo "stopped"; exit 3; fi ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
