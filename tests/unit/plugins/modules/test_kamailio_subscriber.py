"""kamailio_subscriber without a database: parameter handling and main() on a fake connection."""

# ruff: noqa: S105, S106 - made-up test passwords

import json

import pymysql
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sipstack.kamailio.plugins.module_utils import kamailio_module
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant_plan import (
    digest_of,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ValidationError,
    calc_ha1,
    calc_ha1b,
)
from ansible_collections.sipstack.kamailio.plugins.modules import kamailio_subscriber

SECRET = "Pa55-w0rd-never-shown"


def defaults(**overrides):
    values = {
        name: spec.get("default") for name, spec in kamailio_subscriber.argument_spec().items()
    }
    values.update(overrides)
    return values


def build(**overrides):
    secrets = set()
    entries, scope = kamailio_subscriber.build_entries(defaults(**overrides), secrets.add)
    return entries, scope, secrets


# --- build_entries ----------------------------------------------------------------------


def test_single_form():
    entries, scope, secrets = build(username="alice", domain="A.Example", password=SECRET)
    assert [(e.username, e.domain, e.state) for e in entries] == [("alice", "a.example", "present")]
    assert scope == {"a.example"}
    assert secrets == {SECRET}


def test_bulk_form_with_default_domain_and_state():
    entries, scope, _secrets = build(
        domain="a.example",
        subscribers=[
            {"username": "alice", "password": "x"},
            {"username": "alice", "domain": "B.example", "password": "y"},
            {"username": "old", "state": "absent"},
        ],
    )
    assert [(e.username, e.domain, e.state) for e in entries] == [
        ("alice", "a.example", "present"),
        ("alice", "b.example", "present"),
        ("old", "a.example", "absent"),
    ]
    assert scope == {"a.example", "b.example"}


def test_top_level_domain_is_in_purge_scope_even_without_entries():
    entries, scope, _secrets = build(domain="a.example", subscribers=[], purge=True)
    assert entries == [] and scope == {"a.example"}


def test_purge_domains_widen_the_purge_scope():
    entries, scope, _secrets = build(
        subscribers=[{"username": "alice", "domain": "a.example", "password": "x"}],
        purge=True,
        purge_domains=["Gone.Example", "other.example"],
    )
    assert [e.domain for e in entries] == ["a.example"]
    assert scope == {"a.example", "gone.example", "other.example"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purge_domains": ["gone.example"]}, "purge_domains needs purge=true"),
        ({"purge": True, "purge_domains": ["ok.example", "bad_domain"]}, "purge_domains[1]"),
    ],
)
def test_bad_purge_domains(overrides, message):
    with pytest.raises(ValidationError) as err:
        build(subscribers=[], **overrides)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"username": "al ice", "password": SECRET}, "subscribers[1]: username 'al ice'"),
        (
            {"username": "bob", "domain": "b..example", "password": SECRET},
            "subscribers[1] (username 'bob'): domain 'b..example'",
        ),
        ({"username": "bob"}, "needs a password, or ha1 and ha1b"),
        ({"username": "bob", "ha1": SECRET, "ha1b": SECRET}, "32 lowercase hexadecimal"),
        ({"username": "bob", "ha1": "0" * 32}, "ha1 and ha1b must be given together"),
        ({"username": "bob", "password": SECRET, "ha1": "0" * 32}, "mutually exclusive"),
        ({"username": "bob", "password": SECRET, "passwd": SECRET}, "unsupported key(s) passwd"),
        ({"password": SECRET}, "subscribers[1]: username is required"),
        ({"username": "bob", "password": SECRET, "state": "gone"}, "state must be one of"),
        ({"username": "alice", "password": SECRET}, "alice@a.example is listed twice"),
    ],
)
def test_one_bad_entry_fails_the_call_naming_it_but_never_the_secret(item, message):
    secrets = set()
    params = defaults(
        domain="a.example", subscribers=[{"username": "alice", "password": "ok"}, item]
    )
    with pytest.raises(ValidationError) as err:
        kamailio_subscriber.build_entries(params, secrets.add)
    assert message in str(err.value)
    assert SECRET not in str(err.value)


ITEMS = [
    {"username": "bob", "password": SECRET},
    {"username": "bob", "domain": "B.Example", "password": SECRET},
    {"username": "bob", "domain": "a.example", "password": SECRET, "state": "present"},
    {"username": "bob", "state": "absent"},
    {"username": "bob", "state": "absent", "password": SECRET},
    {"username": "bob", "ha1": "0" * 32, "ha1b": "1" * 32},
    {"username": "bob", "ha1": "0" * 32},
    {"username": "bob", "ha1": "0" * 32, "ha1b": "1" * 32, "password": SECRET},
    {"username": "bob", "ha1": "X" * 32, "ha1b": "1" * 32},
    {"username": 1001, "password": SECRET},
    {"username": "bob", "password": 1234},
    {"username": "bob", "password": ""},
    {"username": "bob", "password": " x"},
    {"username": "bob", "password": "x" * 65},
    {"username": "-bob", "password": SECRET},
    {"username": "bob", "domain": 5, "password": SECRET},
    {"username": "bob", "domain": "new.example", "password": SECRET},
    {"username": "bob", "password": SECRET, "state": "gone"},
    {"username": "bob", "password": SECRET, "state": None},
    {"username": "bob", "password": SECRET, "extra": 1},
    {"password": SECRET},
    ["bob"],
]


@pytest.mark.parametrize("store_plaintext", [False, True])
@pytest.mark.parametrize("item", ITEMS)
def test_quick_path_gives_what_read_gives_or_leaves_it_to_read(item, store_plaintext):
    params = defaults(domain="a.example", store_plaintext=store_plaintext)
    reader = kamailio_subscriber.EntryReader(params, set().add, "a.example")
    for known in (None, "B.Example", "a.example"):
        reader.domain(known, "earlier entry")
    quick = reader.quick(item)
    if quick is None:
        return
    assert quick == reader.read(item, "subscribers[0]")


def test_quick_path_takes_the_common_entries():
    reader = kamailio_subscriber.EntryReader(defaults(), set().add, "a.example")
    reader.domain(None, "earlier entry")
    for item in ITEMS[0], ITEMS[3], ITEMS[5]:
        assert reader.quick(item) == reader.read(item)


def test_entry_without_any_domain():
    with pytest.raises(ValidationError, match="no domain, and no top-level domain"):
        build(subscribers=[{"username": "alice", "password": "x"}])


def test_store_plaintext_needs_passwords():
    with pytest.raises(ValidationError, match="store_plaintext needs a password"):
        build(
            username="alice", domain="a.example", ha1="0" * 32, ha1b="1" * 32, store_plaintext=True
        )


def test_purge_needs_the_bulk_form():
    with pytest.raises(ValidationError, match="purge needs the bulk form"):
        build(username="alice", domain="a.example", password="x", purge=True)


def test_absent_needs_no_password():
    entries, _scope, _secrets = build(username="alice", domain="a.example", state="absent")
    assert entries[0].state == "absent"


# --- main() on a fake connection ------------------------------------------------------------


class FakeConnection:
    """Answers the module's SELECTs from a dict of rows; records every statement."""

    def __init__(self, domains=("a.example",), subscribers=(), fail_on=None):
        self.domains = list(domains)
        self.subscribers = list(subscribers)
        self.fail_on = fail_on
        self.log = []
        self.commits = 0
        self.rollbacks = 0

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1

    def close(self):
        pass


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, args=None):
        self.conn.log.append((query, args))
        if self.conn.fail_on and query.startswith(self.conn.fail_on):
            raise pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")
        if "information_schema" in query:
            self.rows = [
                (name, None if name == "id" else "utf8mb4_general_ci")
                for name in ("id", "username", "domain", "password", "ha1", "ha1b")
            ]
        elif query.startswith("SELECT domain FROM domain"):
            self.rows = [(d,) for d in self.conn.domains if d in args]
        elif query.startswith("SELECT SQL_BIG_RESULT d, COUNT(*)"):
            # The per-domain digest the database computes, from the same rows.
            self.rows = []
            for domain in args:
                rows = [r[1:2] + r[3:] for r in self.conn.subscribers if r[2] == domain]
                if rows:
                    self.rows.append((domain, *digest_of(rows)))
        elif query.startswith("SELECT id, username"):
            self.rows = [r for r in self.conn.subscribers if r[2] in args]
        else:
            self.rows = []

    def fetchall(self):
        return self.rows


def run_main(monkeypatch, capsys, conn, **args):
    monkeypatch.setattr(kamailio_module, "connect", lambda module: conn)
    with patch_module_args(args), pytest.raises(SystemExit):
        kamailio_subscriber.main()
    return json.loads(capsys.readouterr().out)


def writes(conn):
    return [q for q, _args in conn.log if not q.startswith("SELECT")]


def test_check_mode_writes_nothing_and_reports_changed(monkeypatch, capsys):
    conn = FakeConnection()
    result = run_main(
        monkeypatch,
        capsys,
        conn,
        subscribers=[{"username": "alice", "domain": "a.example", "password": SECRET}],
        _ansible_check_mode=True,
    )
    assert result["changed"] is True
    assert result["added"] == {"a.example": ["alice"]}
    assert writes(conn) == []
    assert conn.commits == 0
    assert all("FOR UPDATE" not in q for q, _args in conn.log)


def test_apply_writes_in_one_transaction(monkeypatch, capsys):
    conn = FakeConnection()
    result = run_main(
        monkeypatch,
        capsys,
        conn,
        subscribers=[
            {"username": "alice", "domain": "a.example", "password": SECRET},
            {"username": "bob", "domain": "a.example", "password": SECRET},
        ],
    )
    assert result["changed"] is True
    assert [q.split(" (")[0] for q in writes(conn)] == ["INSERT INTO subscriber"]
    assert conn.commits == 1


def test_no_change_writes_nothing(monkeypatch, capsys):
    ha1 = calc_ha1("alice", "a.example", SECRET)
    stored = (1, "alice", "a.example", "", ha1, calc_ha1b("alice", "a.example", SECRET))
    conn = FakeConnection(subscribers=[stored])
    result = run_main(
        monkeypatch, capsys, conn, username="alice", domain="a.example", password=SECRET
    )
    assert result["changed"] is False
    assert writes(conn) == []


def test_failure_part_way_rolls_back_and_leaks_nothing(monkeypatch, capsys):
    stored = (1, "old", "a.example", "", "0" * 32, "1" * 32)
    conn = FakeConnection(subscribers=[stored], fail_on="INSERT")
    result = run_main(
        monkeypatch,
        capsys,
        conn,
        domain="a.example",
        subscribers=[{"username": "alice", "password": SECRET}],
        purge=True,
        allow_purge_all=True,
    )
    assert result["failed"] is True
    assert "nothing was written" in result["msg"]
    assert conn.rollbacks >= 1 and conn.commits == 0
    assert writes(conn)[0].startswith("DELETE")  # the delete ran, then was rolled back
    text = json.dumps(result)
    assert SECRET not in text
    assert result["invocation"]["module_args"]["subscribers"] == (
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    )


def test_missing_domain_fails_before_any_write(monkeypatch, capsys):
    conn = FakeConnection(domains=[])
    result = run_main(
        monkeypatch, capsys, conn, username="alice", domain="a.example", password=SECRET
    )
    assert result["failed"] is True
    assert "a.example missing from the domain table" in result["msg"]
    assert writes(conn) == []
    conn = FakeConnection(domains=[])
    result = run_main(
        monkeypatch,
        capsys,
        conn,
        username="alice",
        domain="a.example",
        password=SECRET,
        require_domain=False,
    )
    assert result["changed"] is True


def test_purge_guard_fails_the_call(monkeypatch, capsys):
    stored = (1, "old", "a.example", "", "0" * 32, "1" * 32)
    conn = FakeConnection(subscribers=[stored])
    result = run_main(monkeypatch, capsys, conn, domain="a.example", subscribers=[], purge=True)
    assert result["failed"] is True
    assert "every subscriber of a.example" in result["msg"]
    assert writes(conn) == []


def test_usernames_are_returned_although_the_list_is_no_log_but_secrets_are_not(
    monkeypatch, capsys
):
    conn = FakeConnection()
    result = run_main(
        monkeypatch,
        capsys,
        conn,
        subscribers=[
            {"username": "present", "domain": "a.example", "password": SECRET},
            {"username": "carol", "domain": "a.example", "password": "present"},
        ],
        _ansible_diff=True,
    )
    # "present" is both a username and a password here: as a secret it is masked.
    assert result["added"] == {"a.example": ["carol", "********"]}
    assert result["diff"]["after"]["subscribers"] == {"a.example": ["carol", "********"]}


# --- subscribers_json ---------------------------------------------------------------------


def test_subscribers_json_is_the_same_bulk_form():
    text = json.dumps(
        [
            {"username": "alice", "password": SECRET},
            {"username": "bob", "domain": "b.example", "password": "other"},
        ]
    )
    entries, scope, secrets = build(domain="a.example", subscribers_json=text)
    assert [(e.username, e.domain) for e in entries] == [
        ("alice", "a.example"),
        ("bob", "b.example"),
    ]
    assert scope == {"a.example", "b.example"}
    assert secrets == {SECRET, "other"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"username": "alice", "password": "%s"' % SECRET, "is not valid JSON"),
        ('{"username": "alice", "password": "%s"}' % SECRET, "JSON list of objects, not a dict"),
        ('[{"username": "al ice", "password": "%s"}]' % SECRET, "subscribers_json[0]: username"),
        ('["%s"]' % SECRET, "subscribers_json[0] must be a dictionary, got str"),
    ],
)
def test_bad_subscribers_json_never_quotes_the_text(text, message):
    with pytest.raises(ValidationError) as err:
        build(domain="a.example", subscribers_json=text)
    assert message in str(err.value)
    assert SECRET not in str(err.value)


def test_subscribers_json_through_main(monkeypatch, capsys):
    conn = FakeConnection()
    text = json.dumps([{"username": "alice", "domain": "a.example", "password": SECRET}])
    result = run_main(monkeypatch, capsys, conn, subscribers_json=text, purge=True)
    assert result["added"] == {"a.example": ["alice"]}
    assert "diff" not in result  # only in diff mode
    assert result["invocation"]["module_args"]["subscribers_json"] == (
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    )
    assert SECRET not in json.dumps(result)


def test_numeric_usernames_and_passwords_are_taken_as_text():
    entries, _scope, secrets = build(
        domain="a.example", subscribers=[{"username": 1001, "password": 4711}]
    )
    assert entries[0].username == "1001"
    assert entries[0].password == "4711"
    assert secrets == {"4711"}
    with pytest.raises(ValidationError, match="username must be a string, got bool"):
        build(domain="a.example", subscribers=[{"username": True, "password": "x"}])
