"""kamailio_tenants (action plugin + module) against a real MariaDB through ansible-playbook.

Tenant files are written to a temporary directory and read by the action plugin on the
controller; the module part writes the database. The database side of the no-op shortcut (one
digest per domain computed by MariaDB) is checked against the Python side directly.
"""

import json
import secrets

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import select_in
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant_plan import (
    Digest,
    digest_of,
    subscriber_digest_query,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    calc_ha1,
    calc_ha1b,
)

TENANTS = "sipstack.kamailio.kamailio_tenants"


def write_tenants(directory, tenants):
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yml"):
        old.unlink()
    for name, data in tenants.items():
        (directory / ("%s.yml" % name)).write_text(json.dumps(data))
    return str(directory)


def sync(play, directory, expect_failure=False, check=False, **args):
    return play(
        [{"name": "sync", TENANTS: dict(tenants_dir=directory, **args)}],
        check=check,
        expect_failure=expect_failure,
    )[0]


def users(*names, suffix="pw"):
    return [{"username": name, "password": "%s-%s" % (name, suffix)} for name in names]


def platform(**extra):
    tenants = {
        "companya": {
            "domain": "CompanyA.example",
            "attrs": {"tenant_id": 1001},
            "subscribers": users("alice", "bob"),
        },
        "companyb": {
            "domain": "companyb.example",
            "did": "cb",
            "purge_subscribers": True,
            "subscribers": users("alice"),
        },
    }
    tenants.update(extra)
    return tenants


def test_apply_is_one_check_then_one_write_then_a_noop(play, kamdb, tmp_path):
    directory = write_tenants(tmp_path / "tenants", platform())
    checked = sync(play, directory, check=True)
    assert checked["changed"] is True
    assert checked["tenants"]["companya"] == {
        "domain": "companya.example",
        "domain_added": True,
        "users_added": ["alice", "bob"],
    }
    assert kamdb.snapshot() == ([], [], [])

    applied = sync(play, directory)
    assert applied["changed"] is True
    assert applied["loaded"] == {"tenants": 2, "subscribers": 3, "files": 2}
    assert kamdb.domains() == {"companya.example": None, "companyb.example": "cb"}
    assert kamdb.attrs() == [
        ("cb", "tenant", 2, "companyb"),
        ("companya.example", "tenant", 2, "companya"),
        ("companya.example", "tenant_id", 0, "1001"),
    ]
    stored = kamdb.subscribers()
    assert stored[("companya.example", "alice")] == (
        "",
        calc_ha1("alice", "companya.example", "alice-pw"),
        calc_ha1b("alice", "companya.example", "alice-pw"),
    )
    before = kamdb.snapshot()
    again = sync(play, directory)
    assert again["changed"] is False
    assert again["tenants"] == {}
    assert kamdb.snapshot() == before


def test_database_digest_equals_the_python_digest(kamdb):
    rows = [
        ("o'neil", "d.example", "", "a" * 32, "b" * 32),
        ("%41lice", "d.example", "plain-ü", "c" * 32, "d" * 32),
        ("x;y=z", "D.example", "", "e" * 32, "f" * 32),
    ]
    for row in rows:
        kamdb.execute(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b)"
            " VALUES (%s, %s, %s, %s, %s)",
            row,
        )
    head, column, tail = subscriber_digest_query()
    ((query, params),) = select_in(head, column, ["d.example"], tail)
    (found,) = kamdb.execute(query, params)
    expected = digest_of((u, p, h1, h2) for u, _d, p, h1, h2 in rows)
    assert found[0] == "d.example"
    assert Digest(int(found[1]), int(found[2]), int(found[3])) == expected


def test_another_tenants_domain_or_did_is_refused_and_nothing_written(play, kamdb, tmp_path):
    sync(play, write_tenants(tmp_path / "tenants", platform()))
    before = kamdb.snapshot()
    thief = tmp_path / "thief"
    for data in (
        {"domain": "companya.example", "subscribers": users("alice", suffix="stolen")},
        {"domain": "companya.example", "state": "absent"},
        {"domain": "evil.example", "did": "cb", "subscribers": []},
    ):
        failed = sync(play, write_tenants(thief, {"thief": data}), expect_failure=True)
        assert failed.get("failed"), failed
        assert "thief.yml (tenant thief)" in failed["msg"]
        assert "belongs to tenant" in failed["msg"] or "used by domain" in failed["msg"]
        assert kamdb.snapshot() == before


def test_an_unowned_domain_is_taken_over_only_with_adopt(play, kamdb, tmp_path):
    kamdb.add_domains("legacy.example")
    directory = tmp_path / "tenants"
    failed = sync(
        play,
        write_tenants(directory, {"legacy": {"domain": "legacy.example"}}),
        expect_failure=True,
    )
    assert "add 'adopt: true'" in failed["msg"]
    adopted = sync(
        play, write_tenants(directory, {"legacy": {"domain": "legacy.example", "adopt": True}})
    )
    assert adopted["changed"] is True
    assert kamdb.attrs() == [("legacy.example", "tenant", 2, "legacy")]


def test_purge_is_bounded_and_removes_nothing_when_refused(play, kamdb, tmp_path):
    tenants = platform(companyc={"domain": "companyc.example", "subscribers": users("carol")})
    directory = tmp_path / "tenants"
    sync(play, write_tenants(directory, tenants))
    before = kamdb.snapshot()

    only_a = write_tenants(directory, {"companya": tenants["companya"]})
    refused = sync(play, only_a, purge=True, expect_failure=True)
    assert (
        "would remove 2 tenants (companyb (companyb.example), companyc (companyc.example))"
        in refused["msg"]
    )
    assert kamdb.snapshot() == before

    empty = tmp_path / "empty"
    empty.mkdir()
    refused = sync(play, str(empty), purge=True, expect_failure=True)
    assert "holds no tenant file" in refused["msg"]
    assert kamdb.snapshot() == before

    purged = sync(play, only_a, purge=True, purge_max=2)
    assert purged["tenants"]["companyc"] == {
        "domain": "companyc.example",
        "domain_removed": True,
        "users_removed": ["carol"],
    }
    assert sorted(kamdb.domains()) == ["companya.example"]
    assert sorted(kamdb.subscribers()) == [
        ("companya.example", "alice"),
        ("companya.example", "bob"),
    ]
    assert kamdb.attrs() == [
        ("companya.example", "tenant", 2, "companya"),
        ("companya.example", "tenant_id", 0, "1001"),
    ]


def test_a_write_that_fails_part_way_leaves_the_database_as_it_was(play, kamdb, tmp_path):
    directory = write_tenants(tmp_path / "tenants", platform())
    sync(play, directory)
    before = kamdb.snapshot()
    changed = platform(companyd={"domain": "companyd.example", "subscribers": users("dave")})
    changed["companya"]["state"] = "absent"
    kamdb.execute(
        "CREATE TRIGGER refuse_dave BEFORE INSERT ON subscriber FOR EACH ROW"
        " BEGIN IF NEW.username = 'dave' THEN"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END"
    )
    failed = sync(play, write_tenants(tmp_path / "tenants", changed), expect_failure=True)
    assert "injected failure" in failed["msg"]
    assert kamdb.snapshot() == before
    kamdb.execute("DROP TRIGGER refuse_dave")
    assert sync(play, write_tenants(tmp_path / "tenants", changed))["changed"] is True
    assert sorted(kamdb.domains()) == ["companyb.example", "companyd.example"]


def test_drift_report_names_what_was_changed_by_hand_and_writes_nothing(play, kamdb, tmp_path):
    directory = write_tenants(tmp_path / "tenants", platform())
    sync(play, directory)
    kamdb.execute(
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES"
        " ('mallory', 'companya.example', '', %s, %s)",
        ("0" * 32, "0" * 32),
    )
    kamdb.execute("UPDATE subscriber SET ha1 = %s WHERE username = 'bob'", ("1" * 32,))
    kamdb.add_domains("handmade.example")
    before = kamdb.snapshot()
    report = sync(play, directory, report=True)["drift"]
    assert report["in_sync"] is False
    assert report["domains_not_in_tenant_list"] == ["handmade.example"]
    assert report["tenants"]["companya"] == {
        "users_not_in_tenant_list": ["mallory"],
        "passwords_differ": ["bob"],
    }
    assert kamdb.snapshot() == before


def test_no_secret_in_verbose_output(play, kamdb, tmp_path):
    secret = "s3cr3t-" + secrets.token_hex(6)
    tenants = platform()
    tenants["companya"]["subscribers"] = [{"username": "alice", "password": secret}]
    directory = write_tenants(tmp_path / "tenants", tenants)
    ha1 = calc_ha1("alice", "companya.example", secret)
    for check in (True, False):
        out = play(
            [{"name": "sync", TENANTS: {"tenants_dir": directory}}], check=check, verbose=True
        )
        assert out.rc == 0, out.stdout[-2000:]
        text = out.stdout + out.stderr
        assert "alice" in text
        assert secret not in text
        assert ha1 not in text
