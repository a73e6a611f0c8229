#!/usr/bin/env bash
# Make this checkout importable as ansible_collections/sipstack/kamailio without a second copy in
# git: .cache/collections/ansible_collections/sipstack/kamailio is a symlink to the checkout.
# With `--copy DIR` it instead writes a real copy of the tracked and untracked-not-ignored files
# under DIR/ansible_collections/sipstack/kamailio (ansible-test resolves symlinks and wants one).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${1:-}" = --copy ]; then
  dest=$2/ansible_collections/sipstack/kamailio
  rm -rf "$dest"
  mkdir -p "$dest"
  # Files deleted in the work tree but still tracked are left out: the copy is the work tree.
  (cd "$root" && git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -C "$dest" -xf -
  echo "$dest"
  exit 0
fi

link=$root/.cache/collections/ansible_collections/sipstack/kamailio
mkdir -p "$(dirname "$link")"
[ "$(readlink "$link" 2>/dev/null)" = "$root" ] || ln -sfn "$root" "$link"
echo "$root/.cache/collections"
