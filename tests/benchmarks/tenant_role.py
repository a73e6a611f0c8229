"""Benchmark: tenant files through playbooks/tenants.yml, the path operators take.

A test container (Kamailio and MariaDB, converged once with playbooks/site.yml) is the target.
The tenant directory holds one file per tenant, plaintext passwords, purge_subscribers on. Each
figure is one whole ansible-playbook run, next to the floor measured in the same run: the same
inventory with a play of two `ping` tasks.

    .venv/bin/python tests/benchmarks/tenant_role.py          (make benchmark runs it)

Printed per size (10,000 subscribers in 100 files, then 100,000 in 1,000): cold apply, no-op,
1% of the passwords changed, --check --diff no-op; wall seconds, the controller's peak RSS (the
largest process of the ansible-playbook tree) and the module's peak RSS on the target (the
largest module process, measured by an interpreter wrapper). Targets: 10,000 cold <= 10 s;
no-op and 1% changed <= floor + 2 s; 100,000 no-op <= 15 s; peak RSS <= 300 MB each.
A run that fails, or a database that does not hold what the files say, ends it with exit 1.
"""

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "harness"
BIN = Path(sys.executable).parent
PREFIX = os.environ.get("SIPSTACK_TEST_PREFIX", "sipstack")
TARGET = PREFIX + "-bench-kamailio"
NETWORK = PREFIX + "-bench"
IMAGE = PREFIX + "-test/systemd:debian12"
RSS_LOG = "/tmp/sipstack-module-rss.log"  # noqa: S108 - inside the throw-away container
# The interpreter modules run with on the target: python3 as a child, whose peak RSS it logs.
WRAPPER = (
    """#!/usr/bin/python3
import resource, subprocess, sys
rc = subprocess.call(["/usr/bin/python3", *sys.argv[1:]])
with open("%s", "a") as log:
    log.write("%%d\\n" %% resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
"""
    % RSS_LOG
)
# Runs ansible-playbook and prints the peak RSS (kB) of its process tree on stderr's last line.
MEASURE = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]);"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
    " sys.exit(rc)"
)


def sh(*args, check=True, **kwargs):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def docker(*args, check=True):
    return sh("docker", *args, check=check)


def target_sql(query):
    out = docker("exec", TARGET, "mysql", "--batch", "--skip-column-names", "kamailio", "-e", query)
    return out.stdout.strip()


class Bench:
    def __init__(self, workdir):
        self.workdir = workdir
        collections = sh("bash", str(HARNESS / "collection.sh")).stdout.strip()
        self.env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_PIPELINING="True",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="False",
        )
        self.inventory = workdir / "inventory"
        (self.inventory / "group_vars" / "all").mkdir(parents=True)
        (self.inventory / "hosts.yml").write_text(
            json.dumps(
                {
                    "all": {
                        "children": {
                            "kamailio": {"hosts": {TARGET: None}},
                            "kamailio_db": {"hosts": {TARGET: None}},
                        },
                        "vars": {
                            "ansible_connection": "community.docker.docker",
                            "ansible_python_interpreter": "/usr/local/bin/sipstack-python-rss",
                        },
                    }
                }
            )
        )
        (self.inventory / "group_vars" / "all" / "db.yml").write_text(
            "kamailio_db_password: bench-%s\nkamailio_db_tenants_password: bench-t-%s\n"
            % (secrets.token_hex(8), secrets.token_hex(8))
        )
        self.floor_playbook = workdir / "floor.yml"
        self.floor_playbook.write_text(
            json.dumps(
                [
                    {
                        "hosts": "kamailio",
                        "gather_facts": False,
                        "tasks": [
                            {"name": "one", "ansible.builtin.ping": {}},
                            {"name": "two", "ansible.builtin.ping": {}},
                        ],
                    }
                ]
            )
        )

    def playbook(self, playbook, *options):
        """(wall seconds, controller peak MB, module peak MB, stdout) of one run."""
        docker("exec", TARGET, "rm", "-f", RSS_LOG)
        cmd = [sys.executable, "-c", MEASURE, str(BIN / "ansible-playbook")]
        cmd += ["-i", str(self.inventory / "hosts.yml"), str(playbook), *options]
        start = time.monotonic()
        proc = subprocess.run(
            cmd, env=self.env, cwd=self.workdir, capture_output=True, text=True, check=False
        )
        wall = time.monotonic() - start
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-3000:])
            raise SystemExit("ansible-playbook %s failed (rc %d)" % (playbook, proc.returncode))
        controller_kb = int(proc.stderr.strip().splitlines()[-1])
        logged = docker("exec", TARGET, "cat", RSS_LOG, check=False).stdout.split()
        module_kb = max((int(x) for x in logged), default=0)
        return wall, controller_kb / 1024, module_kb / 1024, proc.stdout

    def tenants(self, directory, *options):
        extra = json.dumps({"kamailio_tenants_dir": str(directory)})
        return self.playbook(ROOT / "playbooks" / "tenants.yml", "-e", extra, *options)


def start_target(bench):
    docker("rm", "-f", TARGET, check=False)
    docker("network", "rm", NETWORK, check=False)
    docker("network", "create", NETWORK)
    docker(
        "run", "-d", "--name", TARGET, "--hostname", "kamailio", "--network", NETWORK,
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        IMAGE,
    )  # fmt: skip
    for _attempt in range(60):
        state = docker("exec", TARGET, "systemctl", "is-system-running", check=False).stdout
        if state.strip() in ("running", "degraded"):
            break
        time.sleep(1)
    script = bench.workdir / "wrapper"
    script.write_text(WRAPPER)
    docker("cp", str(script), "%s:/usr/local/bin/sipstack-python-rss" % TARGET)
    docker("exec", TARGET, "chmod", "0755", "/usr/local/bin/sipstack-python-rss")
    print("converging %s with playbooks/site.yml (no tenant yet) ..." % TARGET, flush=True)
    wall, _c, _m, _out = bench.playbook(ROOT / "playbooks" / "site.yml")
    print("converged in %.0f s" % wall, flush=True)


def stop_target():
    docker("rm", "-f", TARGET, check=False)
    docker("network", "rm", NETWORK, check=False)


def make_tenants(users, files):
    """{tenant: {domain, passwords {user: password}}}"""
    tenants = {}
    for index in range(files):
        name = "bench%04d" % index
        tenants[name] = {
            "domain": "%s.example" % name,
            "passwords": {
                "u%06d" % n: secrets.token_urlsafe(12) for n in range(index, users, files)
            },
        }
    return tenants


def write_tenants(directory, tenants, names=None):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names or tenants:
        tenant = tenants[name]
        lines = ["domain: %s" % tenant["domain"], "purge_subscribers: true", "subscribers:"]
        for user, password in tenant["passwords"].items():
            lines.append("  - {username: %s, password: '%s'}" % (user, password))
        (directory / ("%s.yml" % name)).write_text("\n".join(lines) + "\n")


def change_one_percent(tenants, users):
    everyone = [(name, user) for name, t in tenants.items() for user in t["passwords"]]
    picked = random.sample(everyone, max(1, users // 100))
    for name, user in picked:
        tenants[name]["passwords"][user] = secrets.token_urlsafe(12)
    return sorted(set(name for name, _user in picked))


def verify(tenants, what):
    count = sum(len(t["passwords"]) for t in tenants.values())
    stored = int(target_sql("SELECT COUNT(*) FROM subscriber WHERE domain LIKE 'bench%'"))
    domains = int(target_sql("SELECT COUNT(*) FROM domain WHERE domain LIKE 'bench%'"))
    if stored != count or domains != len(tenants):
        raise SystemExit(
            "%s: the database holds %d subscribers in %d domains, the files %d in %d"
            % (what, stored, domains, count, len(tenants))
        )
    name, tenant = next(iter(sorted(tenants.items())))
    user, password = next(iter(sorted(tenant["passwords"].items())))
    # bench data only (generated names and url-safe passwords), into the throw-away container
    query = "SELECT MD5(CONCAT('%s:', domain, ':%s')) = ha1 FROM subscriber" % (  # noqa: S608
        user,
        password,
    )
    if (
        target_sql(query + " WHERE username = '%s' AND domain = '%s'" % (user, tenant["domain"]))
        != "1"
    ):
        raise SystemExit("%s: %s@%s does not hold the hash of its password" % (what, user, name))


def changed_count(stdout):
    return sum(int(part.split("=")[1]) for part in stdout.split() if part.startswith("changed="))


def measure_size(bench, users, files):
    rows = []
    directory = bench.workdir / ("tenants-%d" % users)
    shutil.rmtree(directory, ignore_errors=True)
    tenants = make_tenants(users, files)
    write_tenants(directory, tenants)
    size = "%d subscribers / %d files" % (users, files)

    floor = bench.playbook(bench.floor_playbook)
    rows.append(("floor: two ping tasks, same inventory", floor, ""))
    cold = bench.tenants(directory)
    verify(tenants, "cold apply")
    rows.append(("cold apply, %s" % size, cold, "<= 10 s" if users <= 10000 else ""))
    noop = bench.tenants(directory)
    if changed_count(noop[3]) != 0:
        raise SystemExit("the no-op run reported changes:\n" + noop[3][-3000:])
    target = "<= floor + 2 s (%.1f)" % (floor[0] + 2) if users <= 10000 else "<= 15 s"
    rows.append(("no-op", noop, target))
    touched = change_one_percent(tenants, users)
    write_tenants(directory, tenants, touched)
    one = bench.tenants(directory)
    verify(tenants, "1% changed")
    rows.append(("1%% of passwords changed (%d users)" % (users // 100), one, target))
    check = bench.tenants(directory, "--check", "--diff")
    if changed_count(check[3]) != 0:
        raise SystemExit("the --check --diff no-op reported changes")
    rows.append(("--check --diff, no-op", check, ""))
    target_sql("DELETE FROM subscriber WHERE domain LIKE 'bench%'")
    target_sql("DELETE FROM domain_attrs WHERE did LIKE 'bench%'")
    target_sql("DELETE FROM domain WHERE domain LIKE 'bench%'")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--big-users", type=int, default=100000)
    parser.add_argument("--big-files", type=int, default=1000)
    parser.add_argument("--skip-big", action="store_true", help="only the first size")
    parser.add_argument("--keep", action="store_true", help="keep the container and files")
    args = parser.parse_args()

    subprocess.run(["bash", str(HARNESS / "images.sh"), "debian12"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="kamailio-role-bench-"))
    bench = Bench(workdir)
    try:
        start_target(bench)
        sizes = [measure_size(bench, args.users, args.files)]
        if not args.skip_big:
            sizes.append(measure_size(bench, args.big_users, args.big_files))
    finally:
        if not args.keep:
            stop_target()
            shutil.rmtree(workdir, ignore_errors=True)
    width = max(len(row[0]) for rows in sizes for row in rows) + 2
    print()
    header = "{:<{w}} {:>8} {:>14} {:>10}  {}"
    print(
        header.format(
            "playbooks/tenants.yml", "wall s", "controller MB", "module MB", "target", w=width
        )
    )
    for rows in sizes:
        for label, (wall, controller, module, _out), target in rows:
            print(
                "{:<{w}} {:>8.2f} {:>14.0f} {:>10.0f}  {}".format(
                    label, wall, controller, module, target, w=width
                )
            )
        print()
    print("RSS targets: <= 300 MB for the controller and for the module.")


if __name__ == "__main__":
    main()
