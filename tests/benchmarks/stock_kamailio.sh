#!/usr/bin/env bash
# Run Debian's own kamailio.cfg, switched to the features the collection's config has
# (MySQL, digest auth, usrloc in the database, MULTIDOMAIN, HA1 columns), in place of the
# collection's config on a converged benchmark target; and back.
#   stock_kamailio.sh start LISTEN_IP DB_PASSWORD
#   stock_kamailio.sh stop
set -euo pipefail
dir=/etc/kamailio/stock
pid=/run/kamailio/stock.pid

case "${1:-}" in
  start)
    ip=$2 password=$3
    mkdir -p "$dir"
    # the package's own file, as shipped (the collection's config replaced it in /etc/kamailio)
    deb=$(find /var/cache/apt/archives -maxdepth 1 -name "kamailio_*.deb" | head -n 1)
    if [ -z "$deb" ]; then
      (cd /tmp && apt-get download kamailio >/dev/null)
      deb=$(find /tmp -maxdepth 1 -name "kamailio_*.deb" | head -n 1)
    fi
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/kamailio/kamailio.cfg >"$dir/kamailio.cfg"
    # the stock file reads the plaintext password column: switch it to the HA1 hashes
    sed -i \
      -e 's/modparam("auth_db", "calculate_ha1", yes)/modparam("auth_db", "calculate_ha1", 0)/' \
      -e 's/modparam("auth_db", "password_column", "password")/modparam("auth_db", "password_column", "ha1")/' \
      "$dir/kamailio.cfg"
    grep -q 'modparam("auth_db", "password_column", "ha1")' "$dir/kamailio.cfg"
    cat >"$dir/kamailio-local.cfg" <<LOCAL
#!define WITH_MYSQL
#!define WITH_AUTH
#!define WITH_USRLOCDB
#!define WITH_MULTIDOMAIN
#!define DBURL "mysql://kamailio:$password@localhost/kamailio"
listen=udp:$ip:5060
LOCAL
    chown -R root:kamailio "$dir"
    chmod 0750 "$dir"
    chmod 0640 "$dir"/*
    systemctl stop kamailio
    kamailio -c -f "$dir/kamailio.cfg" >/dev/null 2>&1
    # the same memory as the collection's defaults (64 MB shared, 8 MB per process)
    kamailio -f "$dir/kamailio.cfg" -P "$pid" -m 64 -M 8 -u kamailio -g kamailio
    sleep 2
    kill -0 "$(cat "$pid")"
    ;;
  stop)
    if [ -f "$pid" ]; then
      kill "$(cat "$pid")" 2>/dev/null || true
      sleep 2
    fi
    systemctl start kamailio
    ;;
  *)
    echo "usage: $0 start LISTEN_IP DB_PASSWORD | stop" >&2
    exit 2
    ;;
esac
