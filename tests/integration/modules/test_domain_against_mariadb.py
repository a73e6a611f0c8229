"""kamailio_domain against a real MariaDB through ansible-playbook.

Order in every scenario: check mode -> database unchanged -> apply -> rerun not changed ->
change -> absent.
"""

DOMAIN = "sipstack.kamailio.kamailio_domain"


def task(name, **args):
    return {"name": name, DOMAIN: args}


def test_single_domain_lifecycle(play, kamdb):
    wanted = {"domain": "A.Example", "attrs": {"max_calls": 5, "plan": "Plan A"}}

    checked = play([task("check", **wanted)], check=True)
    assert checked[0]["changed"] is True
    assert checked[0]["added"] == ["a.example"]
    assert checked[0]["diff"] == {
        "before": {},
        "after": {
            "domains": {"a.example": {"did": None, "attrs": {"max_calls": 5, "plan": "Plan A"}}}
        },
    }
    assert kamdb.domains() == {}
    assert kamdb.attrs() == []

    applied = play([task("apply", **wanted), task("rerun", **wanted)])
    assert applied[0]["changed"] is True
    assert applied[1]["changed"] is False
    assert applied[1]["diff"] == {"before": {}, "after": {}}
    assert kamdb.domains() == {"a.example": None}
    assert kamdb.attrs() == [
        ("a.example", "max_calls", 0, "5"),
        ("a.example", "plan", 2, "Plan A"),
    ]

    changed = play(
        [
            task("did and attrs", domain="a.example", did="tenant-a", attrs={"max_calls": 6}),
            task("attrs left alone when omitted", domain="a.example", did="tenant-a"),
        ]
    )
    assert changed[0]["changed"] is True
    assert changed[0]["updated"] == ["a.example"]
    assert changed[0]["diff"]["before"]["domains"]["a.example"] == {
        "did": None,
        "attrs": {"max_calls": 5, "plan": "Plan A"},
    }
    assert changed[0]["diff"]["after"]["domains"]["a.example"] == {
        "did": "tenant-a",
        "attrs": {"max_calls": 6},
    }
    assert changed[1]["changed"] is False
    assert kamdb.domains() == {"a.example": "tenant-a"}
    # The attributes of the old did (the domain itself) went with it.
    assert kamdb.attrs() == [("tenant-a", "max_calls", 0, "6")]

    removed = play(
        [
            task("absent", domain="a.example", state="absent"),
            task("absent again", domain="a.example", state="absent"),
        ]
    )
    assert removed[0]["changed"] is True
    assert removed[0]["removed"] == ["a.example"]
    assert removed[1]["changed"] is False
    assert kamdb.domains() == {}
    assert kamdb.attrs() == []


def test_bulk_domains_case_purge_and_guard(play, kamdb):
    domains = [
        {"domain": "a.example"},
        {"domain": "B.Example", "attrs": {"max_calls": 20}},
        {"domain": "sip.b.example", "did": "b.example"},
    ]
    checked = play([task("check", domains=domains)], check=True)
    assert checked[0]["changed"] is True
    assert checked[0]["added"] == ["a.example", "b.example", "sip.b.example"]
    assert kamdb.domains() == {}

    upper = [dict(d, domain=d["domain"].upper()) for d in domains]
    applied = play(
        [
            task("apply", domains=domains),
            task("rerun", domains=domains),
            task("rerun in other case", domains=upper),
        ]
    )
    assert [r["changed"] for r in applied] == [True, False, False]
    assert kamdb.domains() == {"a.example": None, "b.example": None, "sip.b.example": "b.example"}
    assert kamdb.attrs() == [("b.example", "max_calls", 0, "20")]

    purged = play(
        [
            task("guard: an empty list must not wipe the table", domains=[], purge=True)
            | {"ignore_errors": True},
            task("purge all but b.example", domains=[{"domain": "b.example"}], purge=True),
            task(
                "allowed purge of everything, in check mode",
                domains=[],
                purge=True,
                allow_purge_all=True,
            )
            | {"check_mode": True},
        ]
    )
    assert purged[0]["failed"] is True
    assert "every domain" in purged[0]["msg"]
    assert purged[1]["changed"] is True
    assert purged[1]["removed"] == ["a.example", "sip.b.example"]
    # b.example keeps its attributes: its own did is still in use.
    assert kamdb.domains() == {"b.example": None}
    assert kamdb.attrs() == [("b.example", "max_calls", 0, "20")]
    assert purged[2]["changed"] is True
    assert purged[2]["removed"] == ["b.example"]
    assert kamdb.domains() == {"b.example": None}


def test_bad_domain_fails_naming_it_and_writes_nothing(play, kamdb):
    result = play(
        [
            task(
                "one bad entry",
                domains=[{"domain": "good.example"}, {"domain": "bad..example"}],
            )
            | {"ignore_errors": True},
            task("too long", domain="x" * 60 + ".example") | {"ignore_errors": True},
        ]
    )
    assert result[0]["failed"] is True
    assert "domains[1].domain 'bad..example' is not a DNS name" in result[0]["msg"]
    assert result[1]["failed"] is True
    assert "at most 64" in result[1]["msg"]
    assert kamdb.domains() == {}


UNREACHABLE = "sipstack-db-down.invalid"


def test_login_host_list_moves_past_an_unreachable_server(play, kamdb, db_env):
    """login_host in order of preference (the nodes of a Galera cluster): a server that cannot
    be reached is skipped, the next one takes the write; with none reachable the module fails
    naming each."""
    wanted = {"domain": "failover.example", "login_host": [UNREACHABLE, db_env["host"]]}
    applied = play([task("apply", **wanted)])
    assert applied[0]["changed"] is True, applied[0]
    assert kamdb.domains() == {"failover.example": None}

    refused = play(
        [task("nowhere", domain="other.example", login_host=[UNREACHABLE])],
        expect_failure=True,
    )
    assert refused[0]["failed"] is True
    assert UNREACHABLE in refused[0]["msg"], refused[0]["msg"]
    assert kamdb.domains() == {"failover.example": None}
