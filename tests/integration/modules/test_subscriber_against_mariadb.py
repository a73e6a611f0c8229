"""kamailio_subscriber against a real MariaDB through ansible-playbook.

Order in every scenario: check mode -> database unchanged -> apply -> rerun not changed ->
change -> absent.
"""

# ruff: noqa: S105 - made-up test passwords

import json
import subprocess
import sys

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    calc_ha1,
    calc_ha1b,
)

SUBSCRIBER = "sipstack.kamailio.kamailio_subscriber"


def task(name, **args):
    return {"name": name, SUBSCRIBER: args}


def hashes(user, domain, password, plain=""):
    return (plain, calc_ha1(user, domain, password), calc_ha1b(user, domain, password))


def test_single_subscriber_lifecycle(play, kamdb):
    kamdb.add_domains("a.example")
    alice = {"username": "alice", "domain": "a.example", "password": "first-Secret"}

    checked = play([task("check", **alice)], check=True)
    assert checked[0]["changed"] is True
    assert checked[0]["added"] == {"a.example": ["alice"]}
    assert checked[0]["diff"] == {
        "before": {},
        "after": {"subscribers": {"a.example": ["alice"]}},
    }
    assert kamdb.subscribers() == {}

    applied = play([task("apply", **alice), task("rerun", **alice)])
    assert applied[0]["changed"] is True
    assert applied[1]["changed"] is False
    assert applied[1]["added"] == {} and applied[1]["updated"] == {}
    # Only hashes are stored: the password column stays empty.
    assert kamdb.subscribers() == {
        ("a.example", "alice"): hashes("alice", "a.example", "first-Secret")
    }

    changed = play(
        [
            task("new password", **{**alice, "password": "second-Secret"}),
            task(
                "on_create keeps it",
                **{**alice, "password": "third", "update_password": "on_create"},
            ),
            task(
                "plaintext on request, in check mode",
                **{**alice, "password": "second-Secret", "store_plaintext": True},
            )
            | {"check_mode": True},
        ]
    )
    assert changed[0]["changed"] is True
    assert changed[0]["updated"] == {"a.example": ["alice"]}
    assert changed[0]["diff"]["after"]["password_changed"] == {"a.example": ["alice"]}
    assert changed[1]["changed"] is False
    assert changed[2]["changed"] is True  # the password column would be filled
    assert kamdb.subscribers() == {
        ("a.example", "alice"): hashes("alice", "a.example", "second-Secret")
    }

    removed = play(
        [
            task("absent", username="alice", domain="a.example", state="absent"),
            task("absent again", username="alice", domain="a.example", state="absent"),
        ]
    )
    assert removed[0]["changed"] is True
    assert removed[0]["removed"] == {"a.example": ["alice"]}
    assert removed[1]["changed"] is False
    assert kamdb.subscribers() == {}


def test_bulk_many_domains_same_username_case_and_diff(play, kamdb):
    kamdb.add_domains("a.example", "b.example")
    ha1 = calc_ha1("bob", "a.example", "bobs-pw")
    ha1b = calc_ha1b("bob", "a.example", "bobs-pw")
    subscribers = [
        {"username": "alice", "domain": "a.example", "password": "alice-at-a"},
        {"username": "alice", "domain": "B.EXAMPLE", "password": "alice-at-b"},
        {"username": "bob", "domain": "a.example", "ha1": ha1, "ha1b": ha1b},
    ]

    checked = play([task("check", subscribers=subscribers)], check=True)
    assert checked[0]["changed"] is True
    assert checked[0]["added"] == {"a.example": ["alice", "bob"], "b.example": ["alice"]}
    assert kamdb.subscribers() == {}

    other_case = [dict(s, domain=s["domain"].swapcase()) for s in subscribers]
    applied = play(
        [
            task("apply", subscribers=subscribers),
            task("rerun", subscribers=subscribers),
            task("rerun, domains in another case", subscribers=other_case),
            task("rerun as subscribers_json", subscribers_json=json.dumps(subscribers)),
        ]
    )
    assert [r["changed"] for r in applied] == [True, False, False, False]
    assert kamdb.subscribers() == {
        ("a.example", "alice"): hashes("alice", "a.example", "alice-at-a"),
        ("b.example", "alice"): hashes("alice", "b.example", "alice-at-b"),
        ("a.example", "bob"): ("", ha1, ha1b),
    }

    subscribers[1]["password"] = "alice-at-b-v2"
    subscribers.append({"username": "carol", "domain": "b.example", "password": "carols"})
    changed = play([task("change one password, add one", subscribers=subscribers)])
    result = changed[0]
    assert result["changed"] is True
    assert result["updated"] == {"b.example": ["alice"]}
    assert result["added"] == {"b.example": ["carol"]}
    assert result["diff"] == {
        "before": {"subscribers": {"b.example": ["alice"]}},
        "after": {
            "subscribers": {"b.example": ["alice", "carol"]},
            "password_changed": {"b.example": ["alice"]},
        },
    }
    stored = kamdb.subscribers()
    # alice@a.example is a different account: untouched.
    assert stored[("a.example", "alice")] == hashes("alice", "a.example", "alice-at-a")
    assert stored[("b.example", "alice")] == hashes("alice", "b.example", "alice-at-b-v2")

    gone = [dict(s, state="absent") for s in subscribers]
    removed = play([task("all absent", subscribers=gone)])
    assert removed[0]["removed"] == {"a.example": ["alice", "bob"], "b.example": ["alice", "carol"]}
    assert kamdb.subscribers() == {}


def test_purge_scope_and_guard(play, kamdb):
    kamdb.add_domains("a.example", "b.example", "c.example")
    for user, domain in [
        ("alice", "a.example"),
        ("bob", "a.example"),
        ("carol", "b.example"),
        ("dave", "c.example"),
    ]:
        plain, ha1, ha1b = hashes(user, domain, "pw")
        kamdb.execute(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b)"
            " VALUES (%s, %s, %s, %s, %s)",
            (user, domain, plain, ha1, ha1b),
        )
    alice = [{"username": "alice", "domain": "a.example", "password": "pw"}]
    result = play(
        [
            task("purge in check mode", subscribers=alice, purge=True) | {"check_mode": True},
            task("purge names only a.example", subscribers=alice, purge=True),
            task("guard: purge must not empty b.example", domain="b.example", subscribers=[])
            | {"ignore_errors": True},
            task(
                "guard: purge must not empty b.example",
                domain="b.example",
                subscribers=[],
                purge=True,
            )
            | {"ignore_errors": True},
            task(
                "explicitly allowed",
                domain="b.example",
                subscribers=[],
                purge=True,
                allow_purge_all=True,
            ),
        ],
        diff=False,
    )
    assert result[0]["changed"] is True
    assert result[0]["removed"] == {"a.example": ["bob"]}
    # Had check mode written anything, the real run would have nothing left to remove.
    assert result[1]["removed"] == {"a.example": ["bob"]}
    assert result[2]["changed"] is False  # no purge: nothing to do
    assert result[3]["failed"] is True
    assert "every subscriber of b.example" in result[3]["msg"]
    assert result[4]["removed"] == {"b.example": ["carol"]}
    assert "diff" not in result[4]  # returned in diff mode only
    # c.example was never named: dave stays.
    assert set(kamdb.subscribers()) == {("a.example", "alice"), ("c.example", "dave")}


def test_bad_entry_or_failed_write_leaves_the_database_as_it_was(play, kamdb):
    kamdb.add_domains("a.example")
    plain, ha1, ha1b = hashes("alice", "a.example", "old")
    kamdb.execute(
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b)"
        " VALUES (%s, %s, %s, %s, %s)",
        ("alice", "a.example", plain, ha1, ha1b),
    )
    # A write that fails after other statements of the call ran: the insert of 'explode'.
    kamdb.execute(
        "CREATE TRIGGER refuse_explode BEFORE INSERT ON subscriber FOR EACH ROW"
        " BEGIN IF NEW.username = 'explode' THEN"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test trigger'; END IF; END"
    )
    before = kamdb.snapshot()
    good = [
        {"username": "user%02d" % i, "domain": "a.example", "password": "pw-%d" % i}
        for i in range(40)
    ]
    bad = [*good[:20], {"username": "bad user", "password": "Hidden-PW"}, *good[20:]]
    result = play(
        [
            task("one invalid entry", domain="a.example", subscribers=bad)
            | {"ignore_errors": True},
            task(
                "unknown domain",
                subscribers=[
                    *good,
                    {"username": "x", "domain": "nowhere.example", "password": "Nowhere-PW"},
                ],
            )
            | {"ignore_errors": True},
            task(
                "failure part-way through the writes",
                domain="a.example",
                subscribers=[
                    {"username": "alice", "password": "New-Alice-PW"},
                    *good,
                    {"username": "explode", "password": "Explode-PW"},
                ],
            )
            | {"ignore_errors": True},
        ]
    )
    assert result[0]["failed"] is True
    assert "subscribers[20]: username 'bad user' is not a SIP user part" in result[0]["msg"]
    assert "Hidden-PW" not in json.dumps(result[0])
    assert result[1]["failed"] is True
    assert "nowhere.example missing from the domain table" in result[1]["msg"]
    assert result[2]["failed"] is True
    assert "refused by test trigger" in result[2]["msg"]
    assert "nothing was written" in result[2]["msg"] or "database error" in result[2]["msg"]
    assert kamdb.snapshot() == before


def test_sql_metacharacters_in_usernames_and_passwords(play, kamdb):
    kamdb.add_domains("a.example")
    tricky = [
        {"username": "o'neil", "password": "'; DROP TABLE subscriber; --"},
        {"username": "x;y=1", "password": '" OR "1"="1'},
        {"username": "a%27b", "password": "back\\slash %s %% _"},
        {"username": "it's&co+1$,?/", "password": "pa'ss\"word`"},
    ]
    result = play(
        [
            task("apply", domain="a.example", subscribers=tricky),
            task("rerun", domain="a.example", subscribers=tricky),
        ]
    )
    assert [r["changed"] for r in result] == [True, False]
    assert result[0]["added"] == {"a.example": sorted(s["username"] for s in tricky)}
    assert kamdb.subscribers() == {
        ("a.example", s["username"]): hashes(s["username"], "a.example", s["password"])
        for s in tricky
    }


def test_no_secret_in_verbose_output(play, kamdb):
    kamdb.add_domains("a.example", "b.example")
    passwords = ["Verbose-Secret-%d" % i for i in range(5)]
    given_ha1 = calc_ha1("hash", "a.example", "never-sent")
    given_ha1b = calc_ha1b("hash", "a.example", "never-sent")
    tasks = [
        task("single", username="single", domain="a.example", password=passwords[0]),
        task(
            "bulk",
            subscribers=[
                {"username": "bulk1", "domain": "a.example", "password": passwords[1]},
                {"username": "bulk2", "domain": "b.example", "password": passwords[2]},
                {"username": "hash", "domain": "a.example", "ha1": given_ha1, "ha1b": given_ha1b},
            ],
        ),
        task(
            "failing bulk",
            domain="a.example",
            subscribers=[
                {"username": "ok", "password": passwords[3]},
                {"username": "bad user", "password": passwords[3]},
            ],
        )
        | {"ignore_errors": True},
        task(
            "bulk as JSON text",
            subscribers_json=json.dumps(
                [{"username": "json1", "domain": "b.example", "password": passwords[4]}]
            ),
        ),
    ]
    result = play(tasks, verbose=True)
    output = result.stdout + result.stderr
    assert result.rc == 0, output[-3000:]
    # Usernames are still reported.
    assert "bulk2" in output and "single" in output and "json1" in output
    secrets = [
        *passwords,
        given_ha1,
        given_ha1b,
        calc_ha1("single", "a.example", passwords[0]),
        calc_ha1b("bulk1", "a.example", passwords[1]),
        calc_ha1("bulk2", "b.example", passwords[2]),
        calc_ha1("json1", "b.example", passwords[4]),
    ]
    for secret in secrets:
        assert secret not in output


def test_no_secret_in_verbose_diff_or_failure_output_with_10000_entries(play, kamdb):
    kamdb.add_domains(*("t%d.example" % d for d in range(10)))
    accounts = [
        {"username": "u%05d" % i, "domain": "t%d.example" % (i % 10), "password": "Big-%05d!" % i}
        for i in range(10000)
    ]
    failing = [*accounts[:9999], {"username": "bad user", "password": "Big-last!"}]
    tasks = [
        task("10,000 as a list", subscribers=accounts),
        task("again, nothing to change", subscribers_json=json.dumps(accounts), purge=True),
        task("10,000 with a bad one", domain="t0.example", subscribers=failing)
        | {"ignore_errors": True},
        task("mutually exclusive with the list", username="x", subscribers=accounts)
        | {"ignore_errors": True},
    ]
    result = play(tasks, verbose=True, diff=True)
    output = result.stdout + result.stderr
    assert result.rc == 0, output[-3000:]
    # The usernames are reported (diff and result), and both failures say what failed.
    assert "u09999" in output and "u00000" in output
    assert "bad user" in output and "mutually exclusive" in output
    assert len(kamdb.subscribers()) == 10000
    for secret in ("Big-%05d!" % i for i in range(10000)):
        assert secret not in output
    assert "Big-last!" not in output
    for i in (0, 4321, 9999):
        user, domain, password = accounts[i]["username"], accounts[i]["domain"], "Big-%05d!" % i
        assert calc_ha1(user, domain, password) not in output
        assert calc_ha1b(user, domain, password) not in output


def test_connection_and_schema_errors_say_what_failed(play, kamdb, empty_db, tmp_path):
    kamdb.add_domains("a.example")
    bare_python = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare_python)], check=True)
    alice = {"username": "alice", "domain": "a.example", "password": "pw"}
    result = play(
        [
            task("wrong password", login_password="wrong-" + "pw", **alice)
            | {"ignore_errors": True},
            task("no such database", login_db="no_such_db", **alice) | {"ignore_errors": True},
            task("no such table", login_db=empty_db.name, **alice) | {"ignore_errors": True},
            task("nothing listens", login_port=1, **alice) | {"ignore_errors": True},
            task("no PyMySQL on the target", **alice)
            | {
                "ignore_errors": True,
                "vars": {"ansible_python_interpreter": str(bare_python / "bin" / "python")},
            },
        ]
    )
    messages = [r.get("msg", json.dumps(r)) for r in result]
    assert "authentication failed" in messages[0]
    assert "wrong login_user or login_password" in messages[0]
    assert "database does not exist" in messages[1]
    assert "table 'subscriber' does not exist" in messages[2]
    assert "cannot connect" in messages[3]
    assert "Failed to import the required Python library (PyMySQL)" in messages[4]
    assert "Traceback" not in json.dumps(result.results)
    assert kamdb.subscribers() == {}


def test_purge_domains_empty_several_domains_in_one_call(play, kamdb):
    kamdb.add_domains("a.example", "b.example", "c.example")
    for user, domain in [("alice", "a.example"), ("bob", "b.example"), ("carol", "c.example")]:
        plain, ha1, ha1b = hashes(user, domain, "pw")
        kamdb.execute(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b)"
            " VALUES (%s, %s, %s, %s, %s)",
            (user, domain, plain, ha1, ha1b),
        )
    gone = {"subscribers": [], "purge": True, "purge_domains": ["A.example", "b.example"]}
    result = play(
        [
            task("guarded", **gone) | {"ignore_errors": True},
            task("check", **gone, allow_purge_all=True) | {"check_mode": True},
            task("apply", **gone, allow_purge_all=True),
            task("rerun", **gone, allow_purge_all=True),
        ],
        diff=False,
    )
    assert result[0]["failed"] is True
    assert "every subscriber of a.example" in result[0]["msg"]
    assert result[1]["removed"] == {"a.example": ["alice"], "b.example": ["bob"]}
    # Had check mode written anything, the real run would have nothing left to remove.
    assert result[2]["removed"] == {"a.example": ["alice"], "b.example": ["bob"]}
    assert result[3]["changed"] is False
    assert set(kamdb.subscribers()) == {("c.example", "carol")}
