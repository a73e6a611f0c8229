"""kamailio_domain without a database: parameter handling and main() on a fake connection."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sipstack.kamailio.plugins.module_utils import kamailio_module
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ValidationError,
)
from ansible_collections.sipstack.kamailio.plugins.modules import kamailio_domain


def defaults(**overrides):
    values = {name: spec.get("default") for name, spec in kamailio_domain.argument_spec().items()}
    values.update(overrides)
    return values


def test_single_form():
    [entry] = kamailio_domain.build_entries(defaults(domain="A.Example", attrs={"max": 5}))
    assert entry.domain == "a.example"
    assert entry.did is None
    assert entry.attrs == {"max": (0, "5")}
    assert entry.state == "present"


def test_bulk_form_defaults_state_from_top_level():
    entries = kamailio_domain.build_entries(
        defaults(
            state="absent",
            domains=[{"domain": "a.example"}, {"domain": "b.example", "state": "present"}],
        )
    )
    assert [(e.domain, e.state) for e in entries] == [
        ("a.example", "absent"),
        ("b.example", "present"),
    ]


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        ([{"domain": "a_b.example"}], "domains[0].domain 'a_b.example' is not a DNS name"),
        ([{"domain": "a.example"}, {"domain": "A.EXAMPLE"}], "a.example is listed twice"),
        ([{"domain": "a.example", "attrs": {"on": True}}], "got bool"),
        ([{"domain": "a.example", "did": ""}], "did must not be empty"),
    ],
)
def test_bad_entries(domains, message):
    with pytest.raises(ValidationError) as err:
        kamailio_domain.build_entries(defaults(domains=domains))
    assert message in str(err.value)


def test_purge_needs_the_bulk_form():
    with pytest.raises(ValidationError, match="purge needs the bulk form"):
        kamailio_domain.build_entries(defaults(domain="a.example", purge=True))


class FakeConnection:
    def __init__(self, domains=(), attrs=()):
        self.domains = list(domains)
        self.attrs = list(attrs)
        self.log = []
        self.commits = 0

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.commits += 1

    def rollback(self):
        pass

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
        self.conn.log.append(query)
        if "information_schema" in query:
            names = {
                "domain": ("id", "domain", "did"),
                "domain_attrs": ("id", "did", "name", "type", "value"),
            }[args[0]]
            self.rows = [(name, "utf8mb4_general_ci") for name in names]
        elif query.startswith("SELECT id, domain, did FROM domain"):
            self.rows = self.conn.domains
        elif query.startswith("SELECT id, did, name"):
            self.rows = self.conn.attrs
        else:
            self.rows = []

    def fetchall(self):
        return self.rows


def run_main(monkeypatch, capsys, conn, **args):
    monkeypatch.setattr(kamailio_module, "connect", lambda module: conn)
    with patch_module_args(args), pytest.raises(SystemExit):
        kamailio_domain.main()
    return json.loads(capsys.readouterr().out)


def test_check_mode_writes_nothing(monkeypatch, capsys):
    conn = FakeConnection()
    result = run_main(
        monkeypatch, capsys, conn, domains=[{"domain": "a.example"}], _ansible_check_mode=True
    )
    assert result["changed"] is True
    assert result["added"] == ["a.example"]
    assert [q for q in conn.log if not q.startswith("SELECT")] == []
    assert conn.commits == 0


def test_apply_and_no_change(monkeypatch, capsys):
    conn = FakeConnection()
    result = run_main(monkeypatch, capsys, conn, domain="a.example", attrs={"max": 5})
    assert result["changed"] is True
    assert conn.commits == 1
    assert any(q.startswith("INSERT INTO domain_attrs") for q in conn.log)
    conn = FakeConnection(domains=[(1, "a.example", None)], attrs=[(1, "a.example", "max", 0, "5")])
    result = run_main(
        monkeypatch, capsys, conn, domain="a.example", attrs={"max": 5}, _ansible_diff=True
    )
    assert result["changed"] is False
    assert result["diff"] == {"before": {}, "after": {}}
    assert conn.commits == 0


def test_purge_guard(monkeypatch, capsys):
    conn = FakeConnection(domains=[(1, "a.example", None)])
    result = run_main(monkeypatch, capsys, conn, domains=[], purge=True)
    assert result["failed"] is True
    assert "every domain" in result["msg"]
