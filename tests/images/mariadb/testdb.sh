#!/bin/sh
# Start mariadbd for tests: listens on all container addresses (the harness publishes it on the
# host's 127.0.0.1 only), creates the admin user from the password file mounted at
# /run/testdb/admin.pw (never an environment variable: `docker inspect` would show it), and
# touches /run/testdb-ready once it answers. Tuned for throw-away data: no binlog, lazy flush.
set -eu
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
mariadbd --user=mysql --bind-address=0.0.0.0 --skip-name-resolve --skip-log-bin \
  --innodb-buffer-pool-size=256M --innodb-log-file-size=64M \
  --innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
  --collation-server=utf8mb4_general_ci --max-connections=200 &
server=$!
i=0
until mariadb-admin --connect-timeout=2 ping >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 240 ] || ! kill -0 "$server" 2>/dev/null; then
    echo "mariadbd did not start" >&2
    exit 1
  fi
  sleep 0.25
done
pw=$(cat /run/testdb/admin.pw)
mariadb <<SQL
CREATE USER IF NOT EXISTS 'kamtest'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'kamtest'@'%' WITH GRANT OPTION;
SQL
touch /run/testdb-ready
echo "testdb ready"
wait "$server"
