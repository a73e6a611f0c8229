"""SIP throughput of the deployed kamailio.cfg next to Debian's stock kamailio.cfg.

`make benchmark-sip`: one Debian container converged with playbooks/site.yml (MariaDB, Kamailio,
1,100 subscribers over 4 tenant domains; flood and brute-force protection on, the load
generator in kamailio_trusted_networks), one load generator container with sipp. On the same
target in the same run, at rising target rates:

  1. REGISTER with digest authentication (401, REGISTER with credentials, 200), then
  2. calls between registered users (INVITE, 407, INVITE with credentials, 200, ACK, BYE, 200),

first against this collection's config, then against the kamailio.cfg Debian ships, switched to
the same features (WITH_MYSQL, WITH_AUTH, WITH_USRLOCDB, WITH_MULTIDOMAIN, HA1 columns). Prints
per rate: completed per second, failed, retransmissions, and the ratio at the highest rate where
both had no failure.

Environment: BENCH_RELEASE (debian12 | debian13, default debian12), BENCH_SECONDS (seconds per
rate, default 8), BENCH_REG_RATES / BENCH_CALL_RATES (comma-separated target rates),
BENCH_KEEP=1 (keep the containers), SIPSTACK_TEST_PREFIX (container name prefix),
BENCH_USRLOC_DB_MODE=3 (this config as every proxy of a cluster runs it: registrations only in
the database, README: Scale-out; the stock config keeps its write-back mode 2).
Every load step is bounded by its call count and a timeout; traffic only goes between the two
containers this script creates.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIX = os.environ.get("SIPSTACK_TEST_PREFIX", "sipstack")
RELEASE = os.environ.get("BENCH_RELEASE", "debian12")
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
REG_RATES = [
    int(r) for r in os.environ.get("BENCH_REG_RATES", "2000,4000,5000,6000,7000,8000").split(",")
]
CALL_RATES = [int(r) for r in os.environ.get("BENCH_CALL_RATES", "100,200,300,400,500").split(",")]
USRLOC_DB_MODE = os.environ.get("BENCH_USRLOC_DB_MODE", "")
TARGET = "%s-bench-kamailio" % PREFIX
LOADGEN = "%s-bench-loadgen" % PREFIX
NETWORK = "%s-bench" % PREFIX
DOMAINS = ["tenant%d.bench.example" % n for n in range(1, 5)]
USERS_PER_DOMAIN = 250
CALLEES = 25  # per domain: registered to the load generator's answering sipp
DB_PASSWORD = "bench-db-Secret-1"  # noqa: S105 - a throwaway container's database
TENANTS_DB_PASSWORD = "bench-db-Tenants-2"  # noqa: S105 - the same container's tenant sync
UAS_PORT = 5090
TOOLS = "/opt/sipstack-bench"


def log(msg):
    sys.stderr.write("[benchmark-sip] %s\n" % msg)
    sys.stderr.flush()


def sh(cmd, check=True, timeout=600, capture=True):
    result = subprocess.run(cmd, check=False, capture_output=capture, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise SystemExit(
            "command failed (%d): %s\n%s%s"
            % (result.returncode, " ".join(cmd), result.stdout or "", result.stderr or "")
        )
    return result


def dexec(container, script, check=True, timeout=600):
    return sh(["docker", "exec", container, "bash", "-c", script], check=check, timeout=timeout)


def address(container):
    fmt = '{{ (index .NetworkSettings.Networks "%s").IPAddress }}' % NETWORK
    return sh(["docker", "inspect", "-f", fmt, container]).stdout.strip()


def remove_containers():
    sh(["docker", "rm", "-f", TARGET, LOADGEN], check=False)
    sh(["docker", "network", "rm", NETWORK], check=False)


def start_containers():
    remove_containers()
    sh(["docker", "network", "create", NETWORK])
    sh(
        [
            "docker", "run", "-d", "--name", TARGET, "--hostname", "kamailio",
            "--network", NETWORK, "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            "--tmpfs", "/run", "--tmpfs", "/run/lock",
            "%s-test/systemd:%s" % (PREFIX, RELEASE),
        ]
    )  # fmt: skip
    sh(
        [
            "docker", "run", "-d", "--name", LOADGEN, "--hostname", "loadgen",
            "--network", NETWORK, "%s-test/sipclient:%s" % (PREFIX, RELEASE),
        ]
    )  # fmt: skip
    for _attempt in range(60):
        state = dexec(TARGET, "systemctl is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise SystemExit("systemd in %s did not finish booting" % TARGET)


def password(user, domain):
    return "pw-%s-%s" % (user, domain.split(".")[0])


def users():
    """The accounts that register in the REGISTER load: USERS_PER_DOMAIN per domain."""
    return [("user%04d" % n, d) for d in DOMAINS for n in range(1, USERS_PER_DOMAIN + 1)]


def callees():
    """Accounts registered only by the answering sipp (never by the REGISTER load, whose other
    contacts would fork the calls)."""
    return [("callee%03d" % n, d) for d in DOMAINS for n in range(1, CALLEES + 1)]


def converge(loadgen_ip, workdir):
    tenants = [
        {
            "name": domain.split(".")[0],
            "domain": domain,
            "subscribers": [
                {"username": u, "password": password(u, domain)}
                for u, d in users() + callees()
                if d == domain
            ],
        }
        for domain in DOMAINS
    ]
    inventory = {
        "all": {
            "children": {
                "kamailio": {"hosts": {TARGET: None}},
                "kamailio_db": {"hosts": {TARGET: None}},
            },
            "vars": {
                "ansible_connection": "community.docker.docker",
                "kamailio_db_password": DB_PASSWORD,
                "kamailio_db_tenants_password": TENANTS_DB_PASSWORD,
                "kamailio_trusted_networks": ["%s/32" % loadgen_ip],
                "kamailio_tenants": tenants,
                **({"kamailio_usrloc_db_mode": int(USRLOC_DB_MODE)} if USRLOC_DB_MODE else {}),
            },
        }
    }
    path = Path(workdir) / "inventory.json"
    path.write_text(json.dumps(inventory))
    env = dict(os.environ, ANSIBLE_PIPELINING="True")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(path),
         str(REPO / "playbooks" / "site.yml")],
        env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit("converge failed:\n%s\n%s" % (result.stdout[-5000:], result.stderr))
    log("converged in %.0f s" % (time.monotonic() - started))


def write_loadgen_files(workdir):
    reg = ["SEQUENTIAL"] + [
        "%s;%s;[authentication username=%s password=%s]" % (u, d, u, password(u, d))
        for u, d in users()
    ]
    callee_reg = ["SEQUENTIAL"] + [
        "%s;%s;[authentication username=%s password=%s]" % (u, d, u, password(u, d))
        for u, d in callees()
    ]
    calls = ["SEQUENTIAL"] + [
        "%s;%s;callee%03d;[authentication username=%s password=%s]"
        % (u, d, 1 + n % CALLEES, u, password(u, d))
        for n, (u, d) in enumerate(users())
    ]
    files = Path(workdir) / "files"
    files.mkdir()
    for name, lines in (("register.csv", reg), ("callees.csv", callee_reg), ("calls.csv", calls)):
        (files / name).write_text("\n".join(lines) + "\n")
    for scenario in (REPO / "tests" / "benchmarks" / "sip").glob("*.xml"):
        (files / scenario.name).write_text(scenario.read_text())
    dexec(LOADGEN, "rm -rf %s && mkdir -p %s" % (TOOLS, TOOLS))
    sh(["docker", "cp", str(files) + "/.", "%s:%s" % (LOADGEN, TOOLS)])


def sipp(proxy, scenario, inf, rate, count, extra="", timeout=None):
    """One bounded sipp run from the load generator; its final cumulative statistics."""
    timeout = timeout or max(30, 3 * count // max(rate, 1) + 20)
    stat = "%s/%s.stat.csv" % (TOOLS, scenario)
    script = (
        "cd %s && rm -f %s && timeout %d sipp -sf %s -inf %s %s:5060 -r %d -m %d -nostdin "
        "-timeout %ds -max_retrans 5 -trace_stat -stf %s -fd 1 %s >/dev/null 2>&1; "
        "tail -n 1 %s; head -n 1 %s"
    ) % (TOOLS, stat, timeout + 5, scenario + ".xml", inf, proxy, rate, count, timeout,
         stat, extra, stat, stat)  # fmt: skip
    started = time.monotonic()
    out = dexec(LOADGEN, script, check=False, timeout=timeout + 30).stdout.strip().splitlines()
    elapsed = time.monotonic() - started
    if len(out) < 2:
        return {"rate": rate, "done": 0, "per_s": 0.0, "failed": count, "retrans": 0}
    last, header = out[0], out[1]
    row = dict(zip(header.split(";"), last.split(";"), strict=False))
    done = int(row.get("SuccessfulCall(C)", 0))
    failed = int(row.get("FailedCall(C)", 0)) + (count - done - int(row.get("FailedCall(C)", 0)))
    return {
        "rate": rate,
        "done": done,
        "per_s": done / max(elapsed, 0.001),
        "failed": failed,
        "retrans": int(row.get("Retransmissions(C)", 0)),
    }


def start_uas():
    dexec(LOADGEN, "pkill -f 'bench_uas.xml' || true", check=False)
    dexec(
        LOADGEN,
        "cd %s && (nohup sipp -sf bench_uas.xml -p %d -aa -nostdin -m 100000000 "
        "-timeout 3600s >/dev/null 2>&1 &)" % (TOOLS, UAS_PORT),
    )


def stop_uas():
    dexec(LOADGEN, "pkill -f 'bench_uas.xml' || true", check=False)


class Proxy:
    """The config Kamailio runs on the target: this collection's ("ours") or the stock one."""

    def __init__(self, address):
        self.address = address
        self.running = "ours"

    def use(self, label):
        """Switch to `label`, then warm it up: a short REGISTER pass, the callees registered
        from the answering sipp's port (only the new process's usrloc and DB connections)."""
        if label == self.running:
            return
        stop_uas()
        if label == "stock":
            switch_to_stock(self.address)
        else:
            switch_back()
        self.running = label
        sipp(self.address, "bench_register", "register.csv", 1000, 1000)
        count = len(callees())
        reg = sipp(
            self.address, "bench_register", "callees.csv", 200, count, extra="-p %d" % UAS_PORT
        )
        if reg["done"] != count:
            raise SystemExit("%s: only %d of %d callees registered" % (label, reg["done"], count))
        start_uas()


def run_loads(proxy):
    """Every load at every rate, on both configs in turn (which one goes first alternates, so
    that a machine getting busier or quieter favours neither)."""
    results = {label: {"register": [], "calls": []} for label in ("ours", "stock")}
    steps = [("register", "bench_register", "register.csv", r) for r in REG_RATES]
    steps += [("calls", "bench_uac", "calls.csv", r) for r in CALL_RATES]
    order = ["ours", "stock"]
    for kind, scenario, inf, rate in steps:
        for label in order:
            proxy.use(label)
            result = sipp(proxy.address, scenario, inf, rate, rate * SECONDS)
            log("%-5s %-8s target %5d/s: %s" % (label, kind, rate, result))
            results[label][kind].append(result)
        order.reverse()
    return results


def switch_to_stock(proxy):
    """Debian's own kamailio.cfg, switched to the same features, in place of this config."""
    dexec(TARGET, "bash /usr/local/sbin/stock_kamailio.sh start %s %s" % (proxy, DB_PASSWORD))


def switch_back():
    dexec(TARGET, "bash /usr/local/sbin/stock_kamailio.sh stop", check=False)


def table(kind, ours, stock, unit):
    lines = [
        "",
        "%s (target rate -> completed/s, failed, retransmissions)" % kind,
        "| target/s | this config %s/s | failed | retrans | stock %s/s | failed | retrans |"
        % (unit, unit),
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    best = None
    for a, b in zip(ours, stock, strict=True):
        lines.append(
            "| %d | %.0f | %d | %d | %.0f | %d | %d |"
            % (
                a["rate"],
                a["per_s"],
                a["failed"],
                a["retrans"],
                b["per_s"],
                b["failed"],
                b["retrans"],
            )
        )
        if a["failed"] == 0 and b["failed"] == 0:
            best = (a, b)
    if best:
        a, b = best
        lines.append(
            "ratio at %d/s (highest rate where both had 0 failed): %.3f (%.0f / %.0f)"
            % (a["rate"], a["per_s"] / max(b["per_s"], 0.001), a["per_s"], b["per_s"])
        )
    else:
        lines.append("no rate where both had 0 failed")
    return "\n".join(lines)


def main():
    workdir = tempfile.mkdtemp(prefix="benchmark-sip-")
    try:
        log("containers on %s (%s)" % (RELEASE, PREFIX))
        start_containers()
        loadgen_ip, proxy = address(LOADGEN), address(TARGET)
        converge(loadgen_ip, workdir)
        write_loadgen_files(workdir)
        kamailio = dexec(TARGET, "kamailio -v | head -n 1").stdout.strip()
        sh(["docker", "cp", str(REPO / "tests" / "benchmarks" / "stock_kamailio.sh"),
            "%s:/usr/local/sbin/stock_kamailio.sh" % TARGET])  # fmt: skip
        target = Proxy(proxy)
        target.running = None
        try:
            target.use("ours")
            results = run_loads(target)
        finally:
            stop_uas()
            if target.running == "stock":
                switch_back()
        ours, stock = results["ours"], results["stock"]
        out = io.StringIO()
        total = len(users() + callees())
        out.write(
            "\n%s, %d subscribers over %d domains (%d in the REGISTER load), %d s per rate, "
            "load generator trusted, this config's usrloc db_mode %s\n"
            % (kamailio, total, len(DOMAINS), len(users()), SECONDS, USRLOC_DB_MODE or "2")
        )
        out.write(
            table("REGISTER with digest auth", ours["register"], stock["register"], "reg") + "\n"
        )
        out.write(
            table("calls (INVITE/407/INVITE/200/ACK/BYE)", ours["calls"], stock["calls"], "calls")
            + "\n"
        )
        print(out.getvalue())
        with open(Path(workdir) / "results.json", "w", encoding="utf-8") as handle:
            json.dump({"ours": ours, "stock": stock}, handle)
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            remove_containers()
        else:
            log("containers kept: %s %s" % (TARGET, LOADGEN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
