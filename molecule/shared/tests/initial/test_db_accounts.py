# ruff: noqa: S608 - SQL built from this file's own constants, run through the mysql client
"""Database accounts: passwords of any shape end to end, and each account with least privilege.

The passwords of group_vars/all/platform.yml hold @ : / # ? % ' " $ ` ; \\, blanks and a
backslash-n, so Kamailio (option file), kamctl (shell-sourced kamctlrc) and the tenant sync
(module login) each prove that their path takes any character. The privilege tests log in with
each account's real password and try what the account must and must not do.
"""

import re
import time

import pytest
from sipdata import ALICE_A, DB_PASSWORDS, OK, PASSWORD

KAMAILIO, READ_ONLY, TENANTS, KAMCTL = (
    "kamailio",
    "kamailioro",
    "kamailio_tenants",
    "kamailio_kamctl",
)
DENIED = "ERROR 1142"  # <command> command denied to user ... for table ...
USRLOC_FLUSH_WAIT = 40  # seconds: a few usrloc timer intervals (10 in the molecule inventory)
NO_SUCH_ROW = -1  # a WHERE that matches nothing: the statement needs the privilege, changes nothing


def as_account(target, db_name, user, query):
    """Run one query as `user` (its real password, through the environment) over the socket."""
    password = DB_PASSWORDS[user][0]
    return target.run(
        "MYSQL_PWD=%s mysql --batch --skip-column-names -u %s -e %s %s",
        password,
        user,
        query,
        db_name,
    )


def assert_allowed(result):
    assert result.rc == 0, result.stderr


def assert_denied(result, table):
    assert result.rc != 0, "allowed, but must be denied: %s" % result.stdout
    assert DENIED in result.stderr and table in result.stderr, result.stderr


def test_every_account_logs_in_with_its_special_password(target, db_name):
    for user in (KAMAILIO, READ_ONLY, TENANTS, KAMCTL):
        result = as_account(target, db_name, user, "SELECT CURRENT_USER()")
        assert result.rc == 0, "%s: %s" % (user, result.stderr)
        assert result.stdout.startswith(user + "@"), result.stdout


def test_kamailio_account_cannot_insert_into_subscriber(target, db_name):
    result = as_account(
        target,
        db_name,
        KAMAILIO,
        "INSERT INTO subscriber (username, domain, ha1, ha1b)"
        " VALUES ('intruder', 'companya.example', 'x', 'y')",
    )
    assert_denied(result, "subscriber")
    for query in (
        "UPDATE subscriber SET ha1 = ha1 WHERE id = %d" % NO_SUCH_ROW,
        "DELETE FROM domain WHERE id = %d" % NO_SUCH_ROW,
        "UPDATE domain_attrs SET value = value WHERE id = %d" % NO_SUCH_ROW,
    ):
        assert_denied(as_account(target, db_name, KAMAILIO, query), query.split()[2])


def test_kamailio_account_writes_registrations_and_reads_the_rest(target, db_name):
    for query in (
        "UPDATE location SET expires = expires WHERE id = %d" % NO_SUCH_ROW,
        "DELETE FROM location WHERE id = %d" % NO_SUCH_ROW,
        "SELECT COUNT(*) FROM subscriber",
        "SELECT COUNT(*) FROM domain",
        "SELECT COUNT(*) FROM version",
    ):
        assert_allowed(as_account(target, db_name, KAMAILIO, query))


def test_read_only_account_writes_nothing(target, db_name):
    assert_allowed(as_account(target, db_name, READ_ONLY, "SELECT COUNT(*) FROM subscriber"))
    for table in ("location", "subscriber", "domain"):
        query = "DELETE FROM %s WHERE id = %d" % (table, NO_SUCH_ROW)
        assert_denied(as_account(target, db_name, READ_ONLY, query), table)


def test_tenant_sync_account_reaches_only_the_tenant_tables(target, db_name):
    for table in ("subscriber", "domain", "domain_attrs"):
        query = "DELETE FROM %s WHERE id = %d" % (table, NO_SUCH_ROW)
        assert_allowed(as_account(target, db_name, TENANTS, query))
    # the registrations: read (the reconcile step), never written
    assert_allowed(as_account(target, db_name, TENANTS, "SELECT COUNT(*) FROM location"))
    query = "DELETE FROM location WHERE id = %d" % NO_SUCH_ROW
    assert_denied(as_account(target, db_name, TENANTS, query), "location")
    assert_denied(as_account(target, db_name, TENANTS, "SELECT COUNT(*) FROM version"), "version")


def test_kamctl_account_manages_subscribers_and_domains_only(target, db_name):
    for table in ("subscriber", "domain", "domain_attrs"):
        query = "DELETE FROM %s WHERE id = %d" % (table, NO_SUCH_ROW)
        assert_allowed(as_account(target, db_name, KAMCTL, query))
    query = "DELETE FROM location WHERE id = %d" % NO_SUCH_ROW
    assert_denied(as_account(target, db_name, KAMCTL, query), "location")


def test_registrations_are_written_by_kamailio_account(sip, sql):
    """usrloc (db_mode 2) writes through Kamailio's account with its special password. Its
    timer flushes every kamailio_usrloc_timer_interval: poll for a few intervals."""
    assert sip.register(ALICE_A, PASSWORD[ALICE_A])["final"] == OK
    user, domain = ALICE_A.split("@")
    query = "SELECT COUNT(*) FROM location WHERE username = '%s' AND domain = '%s'"
    deadline = time.monotonic() + USRLOC_FLUSH_WAIT
    while int(sql(query % (user, domain))[0][0]) == 0:
        assert time.monotonic() < deadline, "no registration reached table location"
        time.sleep(2)


def test_kamctl_ul_show_lists_a_registration(target, sip):
    assert sip.register(ALICE_A, PASSWORD[ALICE_A])["final"] == OK
    out = target.check_output("kamctl ul show")
    assert re.search(r'"AoR":\s*"%s"' % re.escape(ALICE_A), out), out


def test_kamctl_adds_and_removes_a_subscriber(target, sql):
    """kamctl's documented subscriber commands, through kamctlrc and its account's password."""
    aor = "kamctl-probe@companya.example"
    target.run("kamctl rm %s", aor)
    try:
        added = target.run("kamctl add %s %s", aor, "Probe-pw-1")
        assert added.rc == 0, added.stdout + added.stderr
        rows = sql("SELECT ha1, password FROM subscriber WHERE username = 'kamctl-probe'")
        assert len(rows) == 1 and re.fullmatch(r"[0-9a-f]{32}", rows[0][0]), rows
        assert rows[0][1] in ("", "NULL"), "kamctl stored a plaintext password"
    finally:
        removed = target.run("kamctl rm %s", aor)
    assert removed.rc == 0, removed.stdout + removed.stderr
    assert sql("SELECT COUNT(*) FROM subscriber WHERE username = 'kamctl-probe'") == [["0"]]


def test_kamctl_reads_with_the_read_only_account(target):
    out = target.check_output("kamctl db show version")
    assert re.search(r"\bsubscriber\b", out), out


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/kamailio/my.cnf", "root", "kamailio", 0o640),
        ("/etc/kamailio/kamctlrc", "root", "root", 0o600),
    ],
)
def test_credential_files_are_locked_down(target, path, owner, group, mode):
    f = target.file(path)
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_no_database_password_in_a_database_url(target):
    """The URLs name option file groups: nothing in them to escape, nothing to leak."""
    urls = target.file("/etc/kamailio/kamailio-db.cfg").content_string
    assert re.findall(r'"mysql://\[[a-z_]+\]/\w+"', urls), urls
    for _password, core in DB_PASSWORDS.values():
        assert core not in urls
