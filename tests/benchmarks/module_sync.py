"""Benchmark: the kamailio_subscriber module's own time and peak RSS, without ansible-playbook.

The module runs as Ansible runs it on a target (python3 with the module file and its arguments),
against the harness MariaDB (a container, tests/harness/mariadb.sh), with the accounts in
subscribers_json and purge on:

    .venv/bin/python tests/benchmarks/module_sync.py          (make benchmark runs it)

Per size (10,000 subscribers over 100 domains, then 100,000 over 1,000): cold (every account
new), no-op, 1% of the passwords changed (every 100th account, so 1% of the domains); wall
seconds and the module process's peak RSS, next to the floor measured in the same run: python3
importing AnsibleModule and parsing the same arguments file. Targets at 100,000: no-op <= 1.5 s,
1% changed <= 2 s, peak RSS <= 200 MB. Compare with the floor of the same run, never absolute
times: a busy machine slows both. Exit 1 when a run fails or the database is not what the
run should leave; the figures themselves are not pass/fail.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tenant_sync import (
    HARNESS,
    check,
    count_matching_hashes,
    count_subscribers,
    create_database,
    drop_database,
    harness_env,
)

FLOOR = (
    "import json, sys\n"
    "from ansible.module_utils.basic import AnsibleModule\n"
    "json.load(open(sys.argv[1]))\n"
)
SIZES = ((10000, 100), (100000, 1000))


def collections_path():
    return subprocess.run(
        ["bash", str(HARNESS / "collection.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()


def measure(command, env):
    """(wall seconds, peak RSS in MB, stdout) of one process."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(text[-3000:])
        raise SystemExit("%s failed" % " ".join(command[:2]))
    return wall, usage.ru_maxrss / 1024.0, text


class ModuleRunner:
    def __init__(self, db_env, database, workdir):
        collections = collections_path()
        self.module = str(
            Path(collections, "ansible_collections/sipstack/kamailio/plugins/modules")
            / "kamailio_subscriber.py"
        )
        self.env = dict(os.environ, PYTHONPATH=collections)
        self.args_file = workdir / "args.json"
        self.login = dict(
            login_host=db_env["host"],
            login_port=db_env["port"],
            login_user=db_env["user"],
            login_password=db_env["password"],
            login_db=database,
        )

    def write_args(self, users):
        args = dict(self.login, subscribers_json=json.dumps(users), purge=True)
        self.args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))

    def floor(self):
        wall, rss, _out = measure([sys.executable, "-c", FLOOR, str(self.args_file)], self.env)
        return wall, rss

    def run(self):
        wall, rss, out = measure([sys.executable, self.module, str(self.args_file)], self.env)
        result = json.loads(out[out.index("{") :])
        check(not result.get("failed"), "the module run failed: %s" % result.get("msg"))
        return (wall, rss), result


def bench_size(db_env, users_count, domains_count, workdir):
    domains = ["tenant%04d.example" % i for i in range(domains_count)]
    users = [
        {
            "username": "user%06d" % i,
            "domain": domains[i % domains_count],
            "password": secrets.token_urlsafe(12),
        }
        for i in range(users_count)
    ]
    database = create_database(db_env, domains)
    runner = ModuleRunner(db_env, database, workdir)
    try:
        runner.write_args(users)
        floor = runner.floor()
        cold, result = runner.run()
        check(result["changed"], "cold changes")
        check(count_subscribers(db_env, database) == users_count, "cold creates every account")
        noop, result = runner.run()
        check(not result["changed"], "no-op changes nothing")
        for user in users[::100]:
            user["password"] = secrets.token_urlsafe(12)
        runner.write_args(users)
        one_pct, result = runner.run()
        changed = sum(len(names) for names in result["updated"].values())
        check(changed == len(users[::100]), "1%% changes %d accounts" % len(users[::100]))
        check(count_matching_hashes(db_env, database, users) == users_count, "1% stores hashes")
    finally:
        drop_database(db_env, database)
    return floor, cold, noop, one_pct


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--skip-big", action="store_true", help="only 10,000 / 100")
    args = parser.parse_args()
    db_env, started = harness_env()
    workdir = Path(tempfile.mkdtemp(prefix="kamailio-module-bench-"))
    rows = []
    try:
        for users_count, domains_count in SIZES[:1] if args.skip_big else SIZES:
            floor, cold, noop, one_pct = bench_size(db_env, users_count, domains_count, workdir)
            size = "%d / %d" % (users_count, domains_count)
            big = users_count >= 100000
            rows += [
                ("%s floor (python + AnsibleModule + args)" % size, floor, ""),
                ("%s cold" % size, cold, ""),
                ("%s no-op" % size, noop, "<= 1.5 s, <= 200 MB" if big else ""),
                ("%s 1%% changed" % size, one_pct, "<= 2 s, <= 200 MB" if big else ""),
            ]
    finally:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
        if started:
            subprocess.run(["bash", str(HARNESS / "mariadb.sh"), "stop"], check=False)
    width = max(len(row[0]) for row in rows) + 2
    print("\nkamailio_subscriber, the module process alone (subscribers_json, purge)")
    print(
        "{:<{w}} {:>8} {:>12}  {}".format(
            "users / domains", "wall s", "peak RSS MB", "target", w=width
        )
    )
    for label, (wall, rss), target in rows:
        print("{:<{w}} {:>8.3f} {:>12.1f}  {}".format(label, wall, rss, target, w=width))


if __name__ == "__main__":
    main()
