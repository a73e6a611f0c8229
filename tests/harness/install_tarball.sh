#!/usr/bin/env bash
# Install the collection as a user does: build the tarball, then `ansible-galaxy collection
# install` it into an empty collections path that holds only its dependencies (community.mysql
# and community.crypto, galaxy.yml) and community.docker (the demo's connection plugin).
# Galaxy is out of reach of the test machines: the dependencies are copied from the `ansible`
# package in the venv, and --offline makes ansible-galaxy check them against galaxy.yml's
# requirements without asking a server.
# Usage: install_tarball.sh DIR   (DIR is emptied; prints the collections path DIR/collections)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:?usage: install_tarball.sh DIR}
collections=$dest/collections

rm -rf "$dest"
mkdir -p "$dest/build" "$collections/ansible_collections/community"
ansible-galaxy collection build --output-path "$dest/build" "$root" >&2
bundled=$(python -c 'import pathlib, ansible_collections.community.mysql as m
print(pathlib.Path(list(m.__path__)[0]).parent)')
for name in mysql crypto docker; do
  cp -a "$bundled/$name" "$collections/ansible_collections/community/"
done
ANSIBLE_COLLECTIONS_PATH=$collections ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
  ansible-galaxy collection install --offline \
  -p "$collections" "$dest"/build/sipstack-kamailio-*.tar.gz >&2
echo "$collections"
