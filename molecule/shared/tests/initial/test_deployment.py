"""The deployed host: service, stored credentials, files holding secrets."""

import hashlib
import os
import re

import pytest
from sipdata import COMPANYA, COMPANYB, COMPANYB_HASHES, DB_PASSWORDS, PASSWORD


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5 by definition


def test_kamailio_is_the_scenarios_release(target):
    """Each scenario tests its own Kamailio release (5.6 on Debian 12, 6.0 on Debian 13)."""
    expected = os.environ.get("SIPSTACK_EXPECT_KAMAILIO")
    assert expected, "the scenario's molecule.yml sets SIPSTACK_EXPECT_KAMAILIO (verifier.env)"
    version = re.search(r"version: kamailio (\d+\.\d+)\.", target.check_output("kamailio -v"))
    assert version, "kamailio -v printed no version"
    assert version.group(1) == expected


def test_kamailio_running_and_enabled(target):
    service = target.service("kamailio")
    assert service.is_running
    assert service.is_enabled


def test_kamailio_listens_on_sip_udp(target, proxy_ip):
    assert any(
        target.socket("udp://%s:5060" % address).is_listening
        for address in ("0.0.0.0", proxy_ip)  # noqa: S104
    )


def test_no_subscriber_row_has_a_plaintext_password(sql):
    rows = sql("SELECT COUNT(*) FROM subscriber")
    assert int(rows[0][0]) >= 5  # the check below is not vacuous
    rows = sql(
        "SELECT username, domain FROM subscriber WHERE password IS NOT NULL AND password <> ''"
    )
    assert rows == []


@pytest.fixture(scope="module")
def stored_hashes(sql):
    """(username, domain) -> [ha1, ha1b] of every subscriber row."""
    rows = sql("SELECT username, domain, ha1, ha1b FROM subscriber")
    return {(user, domain): [ha1, ha1b] for user, domain, ha1, ha1b in rows}


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_companya_hashes_computed_from_passwords(stored_hashes, user):
    aor = "%s@%s" % (user, COMPANYA)
    assert stored_hashes[(user, COMPANYA)] == [
        md5("%s:%s:%s" % (user, COMPANYA, PASSWORD[aor])),
        md5("%s:%s:%s" % (aor, COMPANYA, PASSWORD[aor])),
    ]


@pytest.mark.parametrize("user", sorted(COMPANYB_HASHES))
def test_companyb_precomputed_hashes_stored_as_given(stored_hashes, user):
    assert stored_hashes[(user, COMPANYB)] == list(COMPANYB_HASHES[user])


def _files_containing(host, needle, *dirs):
    result = host.run("grep -rlF -- %s" + " %s" * len(dirs), needle, *dirs)
    assert result.rc in (0, 1, 2), result.stderr  # 1: nothing found; 2: some dir is missing
    return [path for path in result.stdout.splitlines() if path]


def test_files_holding_the_db_passwords_are_not_world_readable(target):
    """Kamailio's own credentials: root and the kamailio group; kamctl's: root only; the
    tenant sync's: no file at all (the sync passes it to its modules in memory)."""
    where = ("/etc", "/root", "/var/lib/kamailio")
    for user, (_password, core) in DB_PASSWORDS.items():
        paths = _files_containing(target, core, *where)
        if user == "kamailio_tenants":
            assert paths == [], "the tenant sync's password is stored in %s" % paths
            continue
        assert paths, "no file holds %s's password: where does its client get it from?" % user
        for path in paths:
            f = target.file(path)
            assert f.mode & 0o007 == 0, "%s is mode %o" % (path, f.mode)
            assert f.user == "root", "%s is owned by %s" % (path, f.user)
            assert f.group in ("root", "kamailio"), "%s is group %s" % (path, f.group)
            if user == "kamailio_kamctl":
                assert f.mode & 0o077 == 0, "%s (kamctl's password) is mode %o" % (path, f.mode)


def test_stock_default_db_credentials_not_in_use(target):
    assert _files_containing(target, "kamailiorw", "/etc/kamailio") == []
    for user, password in (("kamailio", "kamailiorw"), ("kamailioro", "kamailioro")):
        cmd = "mysql -u %s -p%s -e 'SELECT 1'"
        assert target.run(cmd, user, password).rc != 0
