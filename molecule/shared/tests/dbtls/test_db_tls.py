"""Scenario dbtls: the database on its own host, connections encrypted (kamailio_db_tls).

Shown from the server's side: the performance schema (enabled by the scenario's prepare step)
gives each connection's TLS version and cipher; Kamailio's connections come from the SIP server's
address, and every one of them is encrypted. An unencrypted login of any account is refused,
the same login over TLS works, and a client that does not trust the server's CA gives up.
"""

import os
import re

import pytest
import testinfra
from sipdata import ALICE_A, DB_PASSWORDS, OK, PASSWORD

ACCOUNTS = ("kamailio", "kamailioro", "kamailio_tenants", "kamailio_kamctl")
CA_FILE = "/etc/kamailio/db-ca.pem"
DB_NAME = "kamailio"
TLS_STATUS = """
SELECT t.PROCESSLIST_USER, t.PROCESSLIST_HOST, v.VARIABLE_VALUE, c.VARIABLE_VALUE
FROM performance_schema.threads t
JOIN performance_schema.status_by_thread v ON v.THREAD_ID = t.THREAD_ID
  AND v.VARIABLE_NAME = 'Ssl_version'
JOIN performance_schema.status_by_thread c ON c.THREAD_ID = t.THREAD_ID
  AND c.VARIABLE_NAME = 'Ssl_cipher'
WHERE t.PROCESSLIST_USER IN ('kamailio', 'kamailioro')
"""


@pytest.fixture(scope="module")
def db():
    """The database host (group kamailio_db)."""
    hosts = testinfra.get_hosts(
        ["ansible://kamailio_db"], ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    assert len(hosts) == 1
    return hosts[0]


@pytest.fixture(scope="module")
def db_address(db):
    """The name the SIP server connects to: the database host's inventory name."""
    return db.backend.host


def login(host, server, user, *options, query="SELECT 1"):
    return host.run(
        "MYSQL_PWD=%s mysql --batch --skip-column-names -h %s -u %s"
        + " %s" * len(options)
        + " -e %s %s",
        DB_PASSWORDS[user][0],
        server,
        user,
        *options,
        query,
        DB_NAME,
    )


def test_database_is_on_another_host(target, db):
    assert not target.service("mariadb").is_running
    assert db.service("mariadb").is_running


def test_kamailio_connections_are_encrypted_server_side(sip, db, target):
    """A registration makes Kamailio read (auth_db) over its connections; each one of them,
    as the server sees it, is TLS 1.2 or 1.3 from the SIP server's address."""
    assert sip.register(ALICE_A, PASSWORD[ALICE_A])["final"] == OK
    rows = [
        line.split("\t")
        for line in db.check_output("mysql --batch --skip-column-names -e %s", TLS_STATUS)
        .strip()
        .splitlines()
    ]
    users = {row[0] for row in rows}
    assert users == {"kamailio", "kamailioro"}, rows
    # the server names a client by address, or by the name reverse DNS gives the container
    sip_server = set(target.check_output("hostname -I").split())
    for _user, host, version, cipher in rows:
        client = host.split(":")[0]
        assert client in sip_server or client.startswith(target.backend.host), rows
        assert version in ("TLSv1.2", "TLSv1.3") and cipher, rows


@pytest.mark.parametrize("user", ACCOUNTS)
def test_unencrypted_login_refused_encrypted_login_works(target, db_address, user):
    plain = login(target, db_address, user, "--skip-ssl")
    assert plain.rc != 0 and "Access denied" in plain.stderr, plain.stderr
    tls = login(target, db_address, user, "--ssl-ca=" + CA_FILE, "--ssl-verify-server-cert")
    assert tls.rc == 0, tls.stderr


def test_every_account_requires_tls(db):
    out = db.check_output(
        "mysql --batch --skip-column-names -e %s",
        "SELECT User, Host, JSON_VALUE(Priv, '$.ssl_type') FROM mysql.global_priv"
        " WHERE User IN ('kamailio', 'kamailioro', 'kamailio_tenants', 'kamailio_kamctl')",
    )
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert sorted(row[0] for row in rows) == sorted(ACCOUNTS), rows
    assert all(row[2] == "1" for row in rows), rows  # 1: REQUIRE SSL


def test_server_certificate_is_verified(target, db_address):
    """A client that does not trust the server's CA refuses the connection."""
    untrusted = login(
        target,
        db_address,
        "kamailio",
        "--ssl-ca=/etc/ssl/certs/ca-certificates.crt",
        "--ssl-verify-server-cert",
    )
    assert untrusted.rc != 0 and re.search(r"(?i)certificate|SSL", untrusted.stderr)


def test_kamailio_option_file_verifies_the_server(target, db_address):
    options = target.file("/etc/kamailio/my.cnf").content_string
    assert 'host = "%s"' % db_address in options
    assert options.count('ssl-ca = "%s"' % CA_FILE) == 2
    assert options.count("ssl-verify-server-cert = 1") == 2


def test_kamctl_works_over_tls(target):
    out = target.check_output("kamctl db show version")
    assert re.search(r"\bsubscriber\b", out), out
