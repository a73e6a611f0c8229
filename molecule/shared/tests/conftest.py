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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # sipdata.py, for the test modules in the subdirectories

from sipdata import ALL_DOMAINS  # noqa: E402

REPO = HERE.parents[2]
SIP_TOOLS = REPO / "tests" / "sip"
CLIENT_TOOLS_DIR = "/opt/sipstack-sip"
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
    addresses = target.check_output("hostname -I").split()
    ipv4 = [a for a in addresses if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a)]
    assert ipv4, "the target has no IPv4 address: %r" % addresses
    for address in ipv4:
        if client.run("ip -4 route get %s", address).rc == 0:
            return address
    return ipv4[0]


class Sip:
    """sipcheck.py on the client host: every call returns the JSON result of one client run."""

    def __init__(self, host, proxy):
        self.host = host
        self.proxy = proxy

    def _run(self, *args):
        cmd = " ".join(
            shlex.quote(str(a))
            for a in ("timeout", "60", "python3", CLIENT_TOOLS_DIR + "/sipcheck.py", *args)
        )
        result = self.host.run(cmd)
        assert result.rc == 0, "sipcheck failed (rc %s): %s %s" % (
            result.rc,
            result.stdout,
            result.stderr,
        )
        return json.loads(result.stdout)

    def register(self, aor, password, client="sipp", auth_user=None, expires=300, port=0):
        """REGISTER `aor` with digest auth; the result's "final" is the final response code."""
        user, domain = aor.split("@", 1)
        args = ["register", "--proxy", self.proxy, "--user", user, "--domain", domain]
        args += ["--password", password, "--client", client, "--expires", expires]
        if port:
            args += ["--port", port]
        if auth_user:
            args += ["--auth-user", auth_user]
        return self._run(*args)

    def call(self, caller, password, callee, callee_password=None):
        """One call from `caller` to `callee`; a sipp UAS answers for the callee.

        With `callee_password` the callee registers first from the UAS port, so the proxy
        routes the INVITE to the UAS.
        """
        args = ["call", "--proxy", self.proxy, "--caller", caller, "--password", password]
        args += ["--callee", callee]
        if callee_password is not None:
            args += ["--callee-password", callee_password]
        return self._run(*args)


@pytest.fixture(scope="session")
def sip(client, proxy_ip):
    """Real SIP clients on the client host, pointed at the target's address.

    Copies tests/sip to the client and lets it resolve the tenant domains to the proxy (sipsak
    resolves the request domain even with an outbound proxy; sipp sends to the address given).
    """
    container = _container_name(client)
    client.check_output("rm -rf %s && mkdir -p %s", CLIENT_TOOLS_DIR, CLIENT_TOOLS_DIR)
    subprocess.run(
        ["docker", "cp", str(SIP_TOOLS) + "/.", "%s:%s" % (container, CLIENT_TOOLS_DIR)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    hosts = client.file("/etc/hosts").content_string
    kept = [line for line in hosts.splitlines() if not line.endswith(HOSTS_MARK)]
    kept.append("%s %s %s" % (proxy_ip, " ".join(ALL_DOMAINS), HOSTS_MARK))
    # /etc/hosts is a bind mount in a container: rewrite it in place, never replace the file.
    client.check_output(
        "printf '%s\\n' " + " ".join(shlex.quote(line) for line in kept) + " > /etc/hosts"
    )
    return Sip(client, proxy_ip)


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
