#!/usr/bin/env bash
# Create or refresh .venv from tests/requirements.txt + tests/constraints.txt. A stamp holding the
# hash of both files (and the interpreter) makes a second run a no-op.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=$root/.venv
python=${PYTHON:-python3}
# The interpreter that builds the venv must live outside it: run-tests.sh puts .venv/bin first on
# PATH, and the rebuild below removes .venv (with the python3 it would otherwise have found).
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$venv/bin" | paste -sd: -)

log() { printf '[venv] %s\n' "$*" >&2; }

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { log "$python is older than 3.11; set PYTHON=python3.11 (or newer)"; exit 1; }

want=$(cat "$root/tests/requirements.txt" "$root/tests/constraints.txt" <("$python" -VV) | sha256sum | cut -c1-16)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.sipstack-stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
fi

log "building .venv (about a minute the first time)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
"$venv/bin/pip" install -q -r "$root/tests/requirements.txt" -c "$root/tests/constraints.txt" 2>&1 \
  | { grep -v '^WARNING: Location' >&2 || true; }
"$venv/bin/python" -c 'import ansible, molecule, pymysql, testinfra, docker, jmespath' \
  || { log "the venv is incomplete"; exit 1; }
echo "$want" >"$venv/.sipstack-stamp"
