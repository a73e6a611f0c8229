"""Benchmark: sync 10,000 subscribers over 100 domains with real ansible-playbook runs.

Run from the checkout (it starts the harness MariaDB itself when needed, and stops it again
afterwards if it started it):

    .venv/bin/python tests/benchmarks/tenant_sync.py

--users, --domains and --loop-users change the sizes; --keep keeps the databases and playbooks.

Figures, each the wall time of a whole ansible-playbook run against the harness MariaDB:
  (a) cold apply: kamailio_domain (100 domains) + kamailio_subscriber (10,000 subscribers), one
      bulk call each; the accounts come from a JSON file through subscribers_json
  (b) the same again, nothing to change
  (c) 1% of the passwords changed
  (d) a loop of the single-user form over 200 new users: time per item, extrapolated to 10,000
and the ratio (d extrapolated) / (a). Targets on a 2-core machine: (a) <= 10 s, (b) and (c) <= 3 s.
For comparison it also times (b) with the accounts as a YAML/JSON list variable (vars_files)
passed to the subscribers option, and an empty play (ansible-playbook's own start-up). The cpu
column (user + sys of the ansible-playbook process tree) is less sensitive than wall time to
other load on the machine.

This prints figures; it is not a pass/fail test (the exit status is 1 only when a run fails or a
result is not what the run should produce).
"""

import argparse
import hashlib
import json
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "harness"
SCHEMA_FILES = ("standard-create.sql", "auth_db-create.sql", "domain-create.sql")
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def harness_env():
    """Start the harness MariaDB when needed; return its settings and whether it was started."""
    status = subprocess.run(
        ["bash", str(HARNESS / "mariadb.sh"), "status"], capture_output=True, check=False
    )
    subprocess.run(["bash", str(HARNESS / "mariadb.sh"), "start"], check=True)
    out = subprocess.run(
        ["bash", str(HARNESS / "mariadb.sh"), "env"], check=True, capture_output=True, text=True
    ).stdout
    env = {}
    for line in out.splitlines():
        key, _sep, value = line.removeprefix("export ").partition("=")
        env[key.removeprefix("KAMAILIO_TEST_DB_").lower()] = value
    env["port"] = int(env["port"])
    return env, status.returncode != 0


def connect(env, database=None):
    return pymysql.connect(
        host=env["host"],
        port=env["port"],
        user=env["user"],
        password=env["password"],
        database=database,
        autocommit=True,
    )


def create_database(env, domains):
    name = "kambench_" + secrets.token_hex(4)
    conn = connect(env)
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % name)
        cursor.execute("USE `%s`" % name)
        for filename in SCHEMA_FILES:
            text = Path(env["schema_dir"], filename).read_text()
            for statement in text.split(";\n"):
                if statement.strip():
                    cursor.execute(statement)
        if domains:
            cursor.executemany("INSERT INTO domain (domain) VALUES (%s)", domains)
    conn.close()
    return name


def drop_database(env, name):
    conn = connect(env)
    with conn.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS `%s`" % name)
    conn.close()


def count_subscribers(env, database):
    conn = connect(env, database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM subscriber")
        (count,) = cursor.fetchone()
    conn.close()
    return count


def count_domains(env, database):
    conn = connect(env, database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM domain")
        (count,) = cursor.fetchone()
    conn.close()
    return count


def count_matching_hashes(env, database, users):
    """How many of users have the ha1 of their current password stored."""
    conn = connect(env, database)
    with conn.cursor() as cursor:
        cursor.execute("SELECT username, domain, ha1 FROM subscriber")
        stored = {(row[0], row[1]): row[2] for row in cursor.fetchall()}
    conn.close()
    matching = 0
    for user in users:
        text = "%s:%s:%s" % (user["username"], user["domain"], user["password"])
        ha1 = hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest auth is MD5
        if stored.get((user["username"], user["domain"])) == ha1:
            matching += 1
    return matching


class Runner:
    def __init__(self, env, workdir):
        self.env = env
        self.workdir = workdir
        collections = subprocess.run(
            ["bash", str(HARNESS / "collection.sh")], check=True, capture_output=True, text=True
        ).stdout.strip()
        self.process_env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=collections,
            # The default output, as a user's run prints it: results are checked in the database.
            ANSIBLE_STDOUT_CALLBACK="default",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_LOCALHOST_WARNING="False",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
            ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-tmp"),
        )

    def playbook(self, name, database, tasks, vars_file=None):
        play = {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "module_defaults": {
                "group/sipstack.kamailio.kamailio": {
                    "login_host": self.env["host"],
                    "login_port": self.env["port"],
                    "login_user": self.env["user"],
                    "login_password": self.env["password"],
                    "login_db": database,
                }
            },
            "tasks": tasks,
        }
        if vars_file:
            play["vars_files"] = [str(vars_file)]
        path = self.workdir / (name + ".yml")
        path.write_text(json.dumps([play], indent=1))
        return path

    def run(self, path):
        """Wall and cpu time of one ansible-playbook run, and the number of changed tasks."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = usage.ru_utime + usage.ru_stime
        start = time.monotonic()
        proc = subprocess.run(
            [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(path)],
            cwd=self.workdir,
            env=self.process_env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime - cpu_before
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit("ansible-playbook %s failed (rc %d)" % (path.name, proc.returncode))
        recap = re.search(r"^localhost\s+:.*\bchanged=(\d+)", proc.stdout, re.MULTILINE)
        if not recap:
            raise SystemExit("no PLAY RECAP in the output of %s" % path.name)
        return (elapsed, cpu), int(recap.group(1))


def check(condition, what):
    if not condition:
        raise SystemExit("unexpected result: %s" % what)


def sync_tasks(domains_file, accounts_file):
    """The recommended sync: two module calls, the data read from JSON files."""
    return [
        {
            "name": "domains of every tenant",
            "sipstack.kamailio.kamailio_domain": {
                "domains": "{{ lookup('ansible.builtin.file', '%s') | from_json }}" % domains_file,
                "purge": True,
            },
        },
        {
            "name": "subscribers of every tenant",
            "sipstack.kamailio.kamailio_subscriber": {
                "subscribers_json": "{{ lookup('ansible.builtin.file', '%s') }}" % accounts_file,
                "purge": True,
            },
        },
    ]


def list_form_tasks():
    """The same sync with the accounts as a list variable (vars_files) and the list option."""
    return [
        {
            "name": "domains of every tenant",
            "sipstack.kamailio.kamailio_domain": {"domains": "{{ bench_domains }}", "purge": True},
        },
        {
            "name": "subscribers of every tenant",
            "sipstack.kamailio.kamailio_subscriber": {
                "subscribers": "{{ bench_subscribers }}",
                "purge": True,
            },
        },
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--loop-users", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the databases and playbooks")
    args = parser.parse_args()

    env, started = harness_env()
    domains = ["tenant%03d.example" % i for i in range(args.domains)]
    users = [
        {
            "username": "user%05d" % i,
            "domain": domains[i % args.domains],
            "password": secrets.token_urlsafe(12),
        }
        for i in range(args.users)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="kamailio-bench-"))
    runner = Runner(env, workdir)
    bulk_db = create_database(env, [])
    loop_db = create_database(env, domains)
    domains_file = workdir / "domains.json"
    accounts_file = workdir / "accounts.json"
    vars_file = workdir / "tenants.json"

    def write_data():
        domains_file.write_text(json.dumps([{"domain": d} for d in domains]))
        accounts_file.write_text(json.dumps(users))
        vars_file.write_text(
            json.dumps(
                {"bench_domains": [{"domain": d} for d in domains], "bench_subscribers": users}
            )
        )

    try:
        baseline = runner.playbook(
            "baseline", bulk_db, [{"ansible.builtin.set_fact": {"bench_noop": True}}]
        )
        sync = runner.playbook("sync", bulk_db, sync_tasks(domains_file, accounts_file))
        list_form = runner.playbook("list_form", bulk_db, list_form_tasks(), vars_file)
        base_time, _results = runner.run(baseline)

        write_data()
        cold, changed = runner.run(sync)
        check(changed == 2, "(a) changes both the domains and the subscribers")
        check(count_domains(env, bulk_db) == args.domains, "(a) creates every domain")
        check(count_subscribers(env, bulk_db) == args.users, "(a) creates every subscriber")
        check(count_matching_hashes(env, bulk_db, users) == args.users, "(a) stores the hashes")

        noop, changed = runner.run(sync)
        check(changed == 0, "(b) changes nothing")

        noop_list, changed = runner.run(list_form)
        check(changed == 0, "the list form changes nothing either")

        changed_count = max(1, args.users // 100)
        for user in users[:: args.users // changed_count][:changed_count]:
            user["password"] = secrets.token_urlsafe(12)
        write_data()
        one_pct, changed = runner.run(sync)
        check(changed == 1, "(c) changes the subscribers only")
        check(count_matching_hashes(env, bulk_db, users) == args.users, "(c) stores new hashes")

        loop_users = [
            {
                "username": "loop%05d" % i,
                "domain": domains[i % len(domains)],
                "password": secrets.token_urlsafe(12),
            }
            for i in range(args.loop_users)
        ]
        loop_vars = workdir / "loop.json"
        loop_vars.write_text(json.dumps({"bench_loop_users": loop_users}))
        loop = runner.playbook(
            "loop",
            loop_db,
            [
                {
                    "name": "one user per item",
                    "sipstack.kamailio.kamailio_subscriber": {
                        "username": "{{ item.username }}",
                        "domain": "{{ item.domain }}",
                        "password": "{{ item.password }}",
                    },
                    "loop": "{{ bench_loop_users }}",
                    "loop_control": {"label": "{{ item.username }}"},
                }
            ],
            loop_vars,
        )
        loop_time, changed = runner.run(loop)
        check(changed == 1, "(d) the loop task changes")
        check(count_subscribers(env, loop_db) == args.loop_users, "(d) creates every subscriber")
    finally:
        if not args.keep:
            drop_database(env, bulk_db)
            drop_database(env, loop_db)
            if started:
                subprocess.run(["bash", str(HARNESS / "mariadb.sh"), "stop"], check=False)

    per_item = tuple(value / args.loop_users for value in loop_time)
    extrapolated = tuple(value * args.users for value in per_item)
    size = "%d users / %d domains" % (args.users, args.domains)
    rows = [
        ("ansible-playbook start-up (empty play), for scale", base_time, ""),
        ("(a) cold apply, %s" % size, cold, "<= 10 s"),
        ("(b) no-op re-apply", noop, "<= 3 s"),
        ("(c) 1%% of passwords changed (%d users)" % changed_count, one_pct, "<= 3 s"),
        ("(d) per-item loop, %d users: whole run" % args.loop_users, loop_time, ""),
        ("    per item", per_item, ""),
        ("    extrapolated to %d users" % args.users, extrapolated, ""),
        ("for comparison: (b) with a list from vars_files", noop_list, ""),
    ]
    width = max(len(row[0]) for row in rows) + 2
    print()
    print("{:<{w}} {:>10} {:>10}  {}".format("figure", "wall s", "cpu s", "target", w=width))
    print("{} {} {}  {}".format("-" * width, "-" * 10, "-" * 10, "-" * 8))
    for label, (wall, cpu), target in rows:
        print("{:<{w}} {:>10.3f} {:>10.3f}  {}".format(label, wall, cpu, target, w=width))
    ratio = (extrapolated[0] / cold[0], extrapolated[1] / cold[1])
    print("{:<{w}} {:>10.1f} {:>10.1f}".format("ratio (d extrapolated) / (a)", *ratio, w=width))
    if args.keep:
        print("\nkept: databases %s, %s; playbooks in %s" % (bulk_db, loop_db, workdir))
    else:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()
