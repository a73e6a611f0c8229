#!/usr/bin/env bash
# Remove what test runs create: molecule, demo, benchmark and test database containers and their networks. Developers'
# own containers (sipstack-dev-*) are left alone, and so are those of other checkouts that run
# with another SIPSTACK_TEST_PREFIX.
set -uo pipefail
prefix=${SIPSTACK_TEST_PREFIX:-sipstack}
command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1 || exit 0
mapfile -t ids < <(docker ps -aq --filter name="^$prefix-(molecule|demo|bench|testdb)-")
[ ${#ids[@]} -eq 0 ] || docker rm -f "${ids[@]}" >/dev/null
mapfile -t nets < <(docker network ls -q --filter name="^$prefix-(molecule|demo|bench|testdb)")
[ ${#nets[@]} -eq 0 ] || docker network rm "${nets[@]}" >/dev/null 2>&1
exit 0
