#!/usr/bin/env bash
# `make demo`: converge a Debian 12 container with the example inventory (examples/inventory)
# through playbooks/site.yml, then register every example subscriber from a second container
# with a real SIP client and show cross-tenant attempts being refused.
#   DEMO_KEEP=1  keep both containers afterwards (remove them later with `make clean`)
#   SIPSTACK_TEST_PREFIX  container name prefix (default sipstack), for a second checkout's demo
#   DEMO_FROM_TARBALL=1  run everything from the built tarball installed with ansible-galaxy into
#                        an empty collections path (install_tarball.sh): its playbook
#                        sipstack.kamailio.site, its examples; not this checkout (test layer tarball)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
harness=$root/tests/harness
prefix=${SIPSTACK_TEST_PREFIX:-sipstack}
target=$prefix-demo-kamailio
client=$prefix-demo-client
network=$prefix-demo

log() { printf '\n[demo] %s\n' "$*"; }

remove_containers() {
  docker rm -f "$target" "$client" >/dev/null 2>&1 || true
  docker network rm "$network" >/dev/null 2>&1 || true
}

installed=""

finish() {
  local rc=$?
  [ -z "$installed" ] || rm -rf "$installed"
  if [ "${DEMO_KEEP:-0}" = 1 ]; then
    log "containers kept: docker exec -it $target bash  (remove them with: make clean)"
  else
    remove_containers
    log "containers removed (run DEMO_KEEP=1 make demo to keep them for a look around)"
  fi
  exit $rc
}

log "setting up: venv, Docker engine, Debian 12 test images"
bash "$harness/venv.sh"
bash "$harness/collection.sh" >/dev/null
bash "$harness/images.sh" debian12
export PATH=$root/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$root/.cache/collections
playbook=playbooks/site.yml
examples=examples
if [ "${DEMO_FROM_TARBALL:-0}" = 1 ]; then
  installed=$(mktemp -d)
  log "installing the collection tarball into the empty path $installed/collections"
  ANSIBLE_COLLECTIONS_PATH=$(bash "$harness/install_tarball.sh" "$installed")
  # only that path: neither this checkout nor the collections bundled with the venv's ansible
  export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
  ansible-galaxy collection list
  playbook=sipstack.kamailio.site
  examples=$ANSIBLE_COLLECTIONS_PATH/ansible_collections/sipstack/kamailio/examples
  # away from the checkout, so that nothing resolves against it
  cd "$installed"
fi
vault_pw=$examples/demo-vault-password.txt
# Fewer round trips per task through `docker exec`.
export ANSIBLE_PIPELINING=True

remove_containers
trap finish EXIT
docker network create "$network" >/dev/null
docker run -d --name "$target" --hostname kamailio --network "$network" \
  -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock \
  "$prefix-test/systemd:debian12" >/dev/null
docker run -d --name "$client" --hostname sipclient --network "$network" \
  "$prefix-test/sipclient:debian12" >/dev/null
docker cp "$root/tests/sip/." "$client:/opt/sipstack-sip" >/dev/null
proxy=$(docker inspect -f "{{ (index .NetworkSettings.Networks \"$network\").IPAddress }}" "$target")
# The demo registers every subscriber in quick succession from one address: the platform trusts
# it (kamailio_trusted_networks), so the flood protection stays out of the way.
client_ip=$(docker inspect -f "{{ (index .NetworkSettings.Networks \"$network\").IPAddress }}" "$client")

log "ansible-playbook $playbook -i $examples/inventory/demo.yml (target $target, $proxy)"
start=$(date +%s)
# The inventory names the host sipstack-demo-kamailio; the container may carry another prefix.
ansible-playbook -i "$examples/inventory/demo.yml" --vault-password-file "$vault_pw" \
  -e "ansible_host=$target" -e "{\"kamailio_trusted_networks\": [\"$client_ip/32\"]}" \
  "$playbook"
log "converged in $(($(date +%s) - start)) s; registering every example subscriber from $client"

python "$harness/demo_report.py" \
  --tenants-dir "$examples/inventory/tenants" \
  --phones "$examples/demo-phone-passwords.yml" \
  --vault-password-file "$vault_pw" \
  --client "$client" --proxy "$proxy"
