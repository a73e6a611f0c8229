"""Check that `ansible-doc -t role` shows every role's options from the installed collection.

For each role of the checkout, the options ansible-doc reads from the installed copy (its
meta/argument_specs.yml, as a user sees them) must be exactly the options of the checkout's
argument specs, for every entry point. Usage: role_docs.py ROLES_DIR (with
ANSIBLE_COLLECTIONS_PATH naming the installed collection's path).
"""

import json
import subprocess
import sys
from pathlib import Path

import yaml

COLLECTION = "sipstack.kamailio"


def main(roles_dir):
    failures = 0
    for spec_file in sorted(Path(roles_dir).glob("*/meta/argument_specs.yml")):
        role = spec_file.parents[1].name
        specs = yaml.safe_load(spec_file.read_text(encoding="utf-8"))["argument_specs"]
        name = "%s.%s" % (COLLECTION, role)
        out = subprocess.run(
            ["ansible-doc", "-t", "role", "--json", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print("%s: ansible-doc failed: %s" % (name, out.stderr.strip()))
            failures += 1
            continue
        shown = json.loads(out.stdout)[name]["entry_points"]
        for entry, spec in specs.items():
            want = set(spec.get("options", {}))
            got = set(shown.get(entry, {}).get("options", {}))
            if not want or want != got:
                print(
                    "%s %s: options missing %s, unexpected %s"
                    % (name, entry, want - got, got - want)
                )
                failures += 1
            else:
                print("%s %s: %d options shown" % (name, entry, len(got)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
