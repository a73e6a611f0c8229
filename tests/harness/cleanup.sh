#!/usr/bin/env bash
# Remove what test runs create: molecule and demo containers and their networks. Developers'
# own containers (sipstack-dev-*) are left alone.
set -uo pipefail
command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1 || exit 0
mapfile -t ids < <(docker ps -aq --filter name='^sipstack-(molecule|demo)-')
[ ${#ids[@]} -eq 0 ] || docker rm -f "${ids[@]}" >/dev/null
mapfile -t nets < <(docker network ls -q --filter name='^sipstack-(molecule|demo)')
[ ${#nets[@]} -eq 0 ] || docker network rm "${nets[@]}" >/dev/null 2>&1
exit 0
