"""Fixtures of the molecule verify tests: the target, the SIP client and real SIP clients on it.

The hosts come from molecule's inventory (MOLECULE_INVENTORY_FILE): the single host of group
`kamailio` is the target, the single host of group `sipclients` runs sipp and sipsak through
tests/sip/sipcheck.py against the target's network address.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # sipdata.py, for the test modules in the subdirectories

from sipdata import ALL_DOMAINS  # noqa: E402
from siphelpers import CLIENT_TOOLS_DIR, kamcmd_raw  # noqa: E402

REPO = HERE.parents[2]
SIP_TOOLS = REPO / "tests" / "sip"
HOSTS_MARK = "# sipstack molecule: tenant domains -> proxy"


def _inventory():
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.exit("MOLECULE_INVENTORY_FILE is not set: run these tests through molecule verify")
    return inventory


def _container_name(host):
    """The docker container behind an ansible:// host of molecule's inventory."""
    inner = host.backend.ansible_runner.get_host(host.backend.host)
    assert inner is not None and inner.backend.NAME == "docker", "not a docker host: %r" % host
    return inner.backend.name


def _single_host(group):
    hosts = testinfra.get_hosts(["ansible://" + group], ansible_inventory=_inventory())
    assert len(hosts) == 1, "expected exactly one host in group %s, got %d" % (group, len(hosts))
    return hosts[0]


@pytest.fixture(scope="session")
def target():
    """The Kamailio + MariaDB host (groups kamailio and kamailio_db)."""
    return _single_host("kamailio")


@pytest.fixture(scope="session")
def client():
    """The SIP client host (sipp, sipsak)."""
    return _single_host("sipclients")


@pytest.fixture(scope="session")
def proxy_ip(target, client):
    """The target's address on the network it shares with the client (discovered, not assumed)."""
    return _address_seen_by(target, client)


def _address_seen_by(target, client):
    addresses = target.check_output("hostname -I").split()
    ipv4 = [a for a in addresses if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a)]
    assert ipv4, "the target has no IPv4 address: %r" % addresses
    for address in ipv4:
        if client.run("ip -4 route get %s", address).rc == 0:
            return address
    return ipv4[0]


@pytest.fixture(scope="session")
def proxies():
    """The SIP servers of a scenario with several (group kamailio), in inventory order."""
    hosts = testinfra.get_hosts(["ansible://kamailio"], ansible_inventory=_inventory())
    assert len(hosts) >= 2, "expected several hosts in group kamailio, got %d" % len(hosts)
    return sorted(hosts, key=lambda host: host.backend.host)


@pytest.fixture(scope="session")
def sips(proxies, client):
    """Real SIP clients on the client host, one per SIP server (index as in `proxies`)."""
    addresses = [_address_seen_by(proxy, client) for proxy in proxies]
    first = _install_tools(client, addresses[0])
    return [first] + [Sip(client, address) for address in addresses[1:]]


@pytest.fixture(scope="session")
def database():
    """The database host of a scenario whose database has a host of its own (group kamailio_db)."""
    return testinfra.get_hosts(["ansible://kamailio_db"], ansible_inventory=_inventory())[0]


@pytest.fixture(scope="session")
def database_nodes():
    """Every database host (group kamailio_db: a Galera cluster's nodes), in inventory order."""
    hosts = testinfra.get_hosts(["ansible://kamailio_db"], ansible_inventory=_inventory())
    return sorted(hosts, key=lambda host: host.backend.host)


class Sip:
    """sipcheck.py and sipedge.py on one client host: each call returns one run's JSON result."""

    def __init__(self, host, proxy):
        self.host = host
        self.proxy = proxy
        self.container = _container_name(host)  # for `docker exec` of long-running tools
        self.address = _address_towards(host, proxy)

    def _run(self, tool, *args, timeout=60):
        cmd = " ".join(
            shlex.quote(str(a))
            for a in ("timeout", timeout, "python3", CLIENT_TOOLS_DIR + "/" + tool, *args)
        )
        result = self.host.run(cmd)
        assert result.rc == 0, "%s failed (rc %s): %s %s" % (
            tool,
            result.rc,
            result.stdout,
            result.stderr,
        )
        return json.loads(result.stdout)

    def register(self, aor, password, client="sipp", auth_user=None, expires=60, port=0, **options):
        """REGISTER `aor` with digest auth; the result's "final" is the final response code.

        Options: transport (udp|tcp), ua (User-Agent), within (seconds the client waits for
        answers, for REGISTERs that are meant to get none).
        """
        user, domain = aor.split("@", 1)
        within = options.pop("within", None)
        args = ["--timeout", within] if within else []
        args += ["register", "--proxy", self.proxy, "--user", user, "--domain", domain]
        args += ["--password", password, "--client", client, "--expires", expires]
        if port:
            args += ["--port", port]
        if auth_user:
            args += ["--auth-user", auth_user]
        args += _options(options)
        return self._run("sipcheck.py", *args)

    def call(self, caller, password, callee, callee_password=None, **options):
        """One call from `caller` to `callee`; a sipp UAS here answers for the callee.

        With `callee_password` the callee registers first from the UAS port, so the proxy
        routes the INVITE to the UAS. Options: auth_user, no_uas (the callee answers on another
        host), transport, hold_ms, call_id.
        """
        args = ["call", "--proxy", self.proxy, "--caller", caller, "--password", password]
        args += ["--callee", callee]
        if callee_password is not None:
            args += ["--callee-password", callee_password]
        args += _options(options)
        return self._run("sipcheck.py", *args, timeout=90)

    def answer(self, aor, password, **options):
        """Register `aor` here and answer one call (options: transport, call_id, wait)."""
        user, domain = aor.split("@", 1)
        args = ["answer", "--proxy", self.proxy, "--user", user, "--domain", domain]
        args += ["--password", password, *_options(options)]
        return self._run("sipcheck.py", *args, timeout=90)

    def keepalive(self, aor, password, wait):
        """Register `aor` here, then record what the proxy sends to it for `wait` seconds."""
        user, domain = aor.split("@", 1)
        args = ["keepalive", "--proxy", self.proxy, "--user", user, "--domain", domain]
        args += ["--password", password, "--wait", wait]
        return self._run("sipcheck.py", *args, timeout=wait + 60)

    def edge(self, command, *args, timeout=120, **options):
        """sipedge.py COMMAND --proxy PROXY ARGS: probes, floods, relay attempts, corpus."""
        return self._run(
            "sipedge.py", command, "--proxy", self.proxy, *_options(options), *args, timeout=timeout
        )

    def answered(self, transport="udp", ua="sipstack-probe"):
        """Does one OPTIONS keepalive from this host get an answer?"""
        return self.edge("probe", transport=transport, ua=ua)["answered"]


def _options(options):
    """Keyword options as command-line options (call_id=X -> --call-id X; True -> a flag)."""
    args = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        args.append("--" + name.replace("_", "-"))
        if value is not True:
            args.append(value)
    return args


def _address_towards(host, proxy):
    """The source address `host` uses towards the proxy."""
    out = host.check_output("ip -4 -o route get %s", proxy)
    match = re.search(r"\bsrc (\S+)", out)
    assert match, "no route from %s to %s: %s" % (host, proxy, out)
    return match.group(1)


def _install_tools(host, proxy_ip):
    """Copy tests/sip to `host` and let it resolve the tenant domains to the proxy.

    sipsak resolves the request domain even with an outbound proxy; sipp sends to the address
    given.
    """
    container = _container_name(host)
    host.check_output("rm -rf %s && mkdir -p %s", CLIENT_TOOLS_DIR, CLIENT_TOOLS_DIR)
    subprocess.run(
        ["docker", "cp", str(SIP_TOOLS) + "/.", "%s:%s" % (container, CLIENT_TOOLS_DIR)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    hosts = host.file("/etc/hosts").content_string
    kept = [line for line in hosts.splitlines() if not line.endswith(HOSTS_MARK)]
    kept.append("%s %s %s" % (proxy_ip, " ".join(ALL_DOMAINS), HOSTS_MARK))
    # /etc/hosts is a bind mount in a container: rewrite it in place, never replace the file.
    host.check_output(
        "printf '%s\\n' " + " ".join(shlex.quote(line) for line in kept) + " > /etc/hosts"
    )
    return Sip(host, proxy_ip)


@pytest.fixture(scope="session")
def sip(client, proxy_ip):
    """Real SIP clients on the trusted client host (kamailio_trusted_networks)."""
    return _install_tools(client, proxy_ip)


@pytest.fixture(scope="session")
def attacker(proxy_ip):
    """Real SIP clients and sipvicious on an untrusted host of the proxy's network."""
    return _install_tools(_single_host("attackers"), proxy_ip)


@pytest.fixture(scope="session")
def phone(proxy_ip):
    """Real SIP clients on a host behind a NAT router (masquerade with port remapping)."""
    return _install_tools(_single_host("natphones"), proxy_ip)


@pytest.fixture(scope="session")
def nat_public_address(proxy_ip):
    """The address the NAT router's phone appears with at the proxy."""
    return _address_towards(_single_host("natrouters"), proxy_ip)


ROLE_DEFAULTS = REPO / "roles" / "kamailio" / "defaults" / "main.yml"


@pytest.fixture(scope="session")
def settings(inventory_vars):
    """The kamailio role's settings in force: its defaults, overridden by the inventory.

    Only plain values are read this way (templated defaults stay unrendered strings).
    """
    values = yaml.safe_load(ROLE_DEFAULTS.read_text())
    values.update({k: v for k, v in inventory_vars.items() if k.startswith("kamailio_")})
    return values


@pytest.fixture(scope="session")
def kamailio_pid(target):
    """Kamailio's main PID now (a test that must not restart or crash it compares it)."""

    def read():
        out = target.check_output("systemctl show --property=MainPID --value kamailio.service")
        return int(out)

    return read


@pytest.fixture(scope="session")
def bans(kamcmd):
    """The ban list the README documents: kamcmd htable.get / htable.delete on table ipban."""

    class Bans:
        def get(self, address):
            """The ban of `address` ("flood", "auth") or None."""
            out = kamcmd_raw(kamcmd, "htable.get", "ipban", address)
            match = re.search(r"value:\s*(\S+)", out)
            return match.group(1) if match else None

        def lift(self, address):
            """Lift a ban and forget counted authentication failures (README's howto)."""
            for table in ("ipban", "authfail"):
                kamcmd_raw(kamcmd, "htable.delete", table, address)

    return Bans()


@pytest.fixture(scope="session")
def kamcmd(target):
    """Run one kamcmd RPC on the target; kamcmd exits 0 even when the RPC fails, so check."""

    def run(*args):
        out = target.check_output("kamcmd " + " ".join(shlex.quote(a) for a in args))
        assert not out.lstrip().startswith("error"), "kamcmd %s: %s" % (" ".join(args), out)
        return out

    return run


@pytest.fixture(scope="session")
def inventory_vars(target):
    """The target's inventory variables (group_vars included, role defaults not)."""
    return target.backend.get_variables()


@pytest.fixture(scope="session")
def db_name(inventory_vars):
    """The Kamailio database name from the inventory (the roles' default otherwise)."""
    return inventory_vars.get("kamailio_db_name", "kamailio")


@pytest.fixture(scope="session")
def sql(target, db_name):
    """Run one SQL query on the target as the MariaDB root user (unix socket); rows of columns."""

    def run(query):
        out = target.check_output("mysql --batch --skip-column-names -e %s %s", query, db_name)
        return [line.split("\t") for line in out.splitlines() if line]

    return run


VERIFY_LOG = "verify-runs.log"


def pytest_sessionfinish(session, exitstatus):
    """Record which test set ran and how many tests it collected.

    molecule's verifier skips a step whose directory holds no test file and reports success;
    the scenario's last step (shared/verified.yml) compares these records with the verify
    steps of the test sequence and fails for any step that ran no test.
    """
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not ephemeral:
        return
    sets = sorted({Path(arg.split("::")[0]).resolve().parent.name for arg in session.config.args})
    with open(os.path.join(ephemeral, VERIFY_LOG), "a", encoding="utf-8") as log:
        for name in sets:
            log.write("%s %d %d\n" % (name, session.testscollected, exitstatus))
