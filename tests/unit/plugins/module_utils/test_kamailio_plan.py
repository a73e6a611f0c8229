"""Planning of inserts, updates and deletes (kamailio_plan): pure functions, no database."""

# ruff: noqa: S105, S106, S107 - made-up test passwords

import pytest

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    AttrRow,
    DomainEntry,
    DomainRow,
    PlanError,
    SubscriberEntry,
    SubscriberRow,
    delete_ids,
    multi_row_insert,
    multi_row_update,
    plan_domains,
    plan_subscribers,
    select_all_domains,
    select_domains,
    select_subscribers,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    calc_ha1,
    calc_ha1b,
    normalize_attrs,
)

# --- SQL builders ---------------------------------------------------------------------------


def test_multi_row_insert_chunks_and_keeps_values_out_of_the_sql():
    rows = [("o'neil; DROP TABLE subscriber", "a.example", "", "h1", "h2")] * 5
    statements = multi_row_insert(
        "subscriber", ("username", "domain", "password", "ha1", "ha1b"), rows, size=2
    )
    assert len(statements) == 3
    for query, params in statements:
        assert "DROP" not in query
        assert query.startswith("INSERT INTO subscriber (username, domain, password, ha1, ha1b)")
        assert query.count("%s") == len(params)
    assert [len(params) for _query, params in statements] == [10, 10, 5]


def test_multi_row_insert_with_sql_functions_in_the_row():
    [(query, params)] = multi_row_insert(
        "domain", ("domain", "did", "last_modified"), [("a.example", None)], "(%s, %s, NOW())"
    )
    assert query == "INSERT INTO domain (domain, did, last_modified) VALUES (%s, %s, NOW())"
    assert params == ("a.example", None)


def test_multi_row_insert_of_nothing_is_no_statement():
    assert multi_row_insert("subscriber", ("username",), []) == []
    assert multi_row_update("subscriber", "id", ("username",), []) == []
    assert delete_ids("subscriber", []) == []
    assert select_subscribers(set()) == []


def test_multi_row_update_is_one_case_statement_per_chunk():
    rows = [(7, "alice", "h7"), (9, "bob", "h9")]
    [(query, params)] = multi_row_update("subscriber", "id", ("username", "ha1"), rows)
    assert query == (
        "UPDATE subscriber SET username = CASE id WHEN %s THEN %s WHEN %s THEN %s END,"
        " ha1 = CASE id WHEN %s THEN %s WHEN %s THEN %s END WHERE id IN (%s, %s)"
    )
    assert params == (7, "alice", 9, "bob", 7, "h7", 9, "h9", 7, 9)


def test_delete_and_select_statements():
    assert delete_ids("subscriber", [3, 1]) == [
        ("DELETE FROM subscriber WHERE id IN (%s, %s)", (1, 3))
    ]
    [(query, params)] = select_subscribers({"b.example", "a.example"}, for_update=True)
    assert query == (
        "SELECT id, username, domain, password, ha1, ha1b FROM subscriber"
        " WHERE domain IN (%s, %s) FOR UPDATE"
    )
    assert params == ("a.example", "b.example")
    [(query, _params)] = select_subscribers({"a.example"}, domain_ci=False)
    assert "WHERE LOWER(domain) IN (%s)" in query
    [(query, _params)] = select_domains({"a.example"})
    assert query == "SELECT domain FROM domain WHERE domain IN (%s)"
    assert select_all_domains(True) == [("SELECT id, domain, did FROM domain FOR UPDATE", ())]


def test_reads_are_chunked_below_mariadbs_in_list_conversion():
    domains = {"d%04d.example" % i for i in range(1200)}
    statements = select_subscribers(domains)
    assert [len(params) for _query, params in statements] == [500, 500, 200]


# --- subscribers ----------------------------------------------------------------------------


def entry(user, domain="a.example", password="pw", state="present", ha1=None, ha1b=None):
    if ha1 is not None:
        password = None
    return SubscriberEntry(user, domain, state, password, ha1, ha1b)


def row(row_id, user, domain="a.example", password="pw", plain="", ha1=None, ha1b=None):
    return SubscriberRow(
        row_id,
        user,
        domain,
        plain,
        calc_ha1(user, domain.lower(), password) if ha1 is None else ha1,
        calc_ha1b(user, domain.lower(), password) if ha1b is None else ha1b,
    )


def plan(entries, rows, scope=None, **kwargs):
    if scope is None:
        scope = {e.domain for e in entries}
    return plan_subscribers(entries, rows, scope, **kwargs)


def test_new_subscriber_is_inserted_with_hashes_and_no_plaintext():
    result = plan([entry("alice", password="s3cret")], [])
    assert result.changed
    assert result.inserts == [
        (
            "alice",
            "a.example",
            "",
            calc_ha1("alice", "a.example", "s3cret"),
            calc_ha1b("alice", "a.example", "s3cret"),
        )
    ]
    assert result.added == {"a.example": ["alice"]}
    assert result.updated == {} and result.removed == {}


def test_store_plaintext_fills_the_password_column():
    result = plan([entry("alice", password="s3cret")], [], store_plaintext=True)
    assert result.inserts[0][2] == "s3cret"


def test_matching_hashes_mean_no_change():
    result = plan([entry("alice"), entry("bob")], [row(1, "alice"), row(2, "bob")])
    assert not result.changed
    assert result.statements() == []
    assert result.diff == {"before": {}, "after": {}}


def test_changed_password_is_an_update_of_that_row_only():
    result = plan([entry("alice", password="new"), entry("bob")], [row(1, "alice"), row(2, "bob")])
    assert result.updates == [
        (
            1,
            "alice",
            "a.example",
            "",
            calc_ha1("alice", "a.example", "new"),
            calc_ha1b("alice", "a.example", "new"),
        )
    ]
    assert result.updated == {"a.example": ["alice"]}
    assert result.diff == {
        "before": {"subscribers": {"a.example": ["alice"]}},
        "after": {
            "subscribers": {"a.example": ["alice"]},
            "password_changed": {"a.example": ["alice"]},
        },
    }


def test_on_create_leaves_existing_credentials_alone():
    rows = [row(1, "alice", password="old", plain="old")]
    result = plan([entry("alice", password="new"), entry("bob")], rows, update_password="on_create")
    assert result.updates == []
    assert result.added == {"a.example": ["bob"]}


def test_plaintext_left_by_other_tools_is_cleared():
    result = plan([entry("alice")], [row(1, "alice", plain="pw")])
    assert [u[3] for u in result.updates] == [""]
    assert result.diff["after"]["password_changed"] == {"a.example": ["alice"]}


def test_precomputed_hashes_are_compared_as_given():
    ha1, ha1b = "0" * 32, "1" * 32
    rows = [row(1, "alice", ha1=ha1, ha1b=ha1b)]
    assert not plan([entry("alice", ha1=ha1, ha1b=ha1b)], rows).changed
    changed = plan([entry("alice", ha1=ha1, ha1b="2" * 32)], rows)
    assert changed.updates == [(1, "alice", "a.example", "", ha1, "2" * 32)]


def test_absent_removes_and_absent_of_a_missing_user_is_no_change():
    rows = [row(1, "alice"), row(2, "bob")]
    result = plan([entry("alice", state="absent"), entry("nobody", state="absent")], rows)
    assert [r.id for r in result.deletes] == [1]
    assert result.removed == {"a.example": ["alice"]}
    assert result.diff == {"before": {"subscribers": {"a.example": ["alice"]}}, "after": {}}


def test_same_username_in_two_domains_are_two_accounts():
    rows = [row(1, "alice", "a.example"), row(2, "alice", "b.example", password="other")]
    result = plan(
        [entry("alice", "a.example"), entry("alice", "b.example", password="changed")], rows
    )
    assert [u[0] for u in result.updates] == [2]
    assert result.updated == {"b.example": ["alice"]}
    # The hash carries the realm: the same password in two domains gives two hashes.
    assert calc_ha1("alice", "a.example", "pw") != calc_ha1("alice", "b.example", "pw")


def test_purge_removes_unlisted_only_in_the_named_domains():
    rows = [row(1, "alice"), row(2, "bob"), row(3, "carol", "b.example")]
    # Rows of b.example are not in scope; the module does not even read them.
    result = plan([entry("alice")], rows[:2], scope={"a.example"}, purge=True)
    assert [r.id for r in result.deletes] == [2]
    assert result.removed == {"a.example": ["bob"]}


def test_purge_without_purge_flag_removes_nothing():
    result = plan([entry("alice")], [row(1, "alice"), row(2, "bob")])
    assert not result.changed


def test_purge_guard_refuses_to_empty_a_domain():
    rows = [row(1, "alice"), row(2, "bob"), row(3, "carol", "b.example")]
    with pytest.raises(PlanError) as err:
        plan([entry("carol", "b.example")], rows, scope={"a.example", "b.example"}, purge=True)
    assert "every subscriber of a.example" in str(err.value)
    assert "allow_purge_all" in str(err.value)
    allowed = plan(
        [entry("carol", "b.example")],
        rows,
        scope={"a.example", "b.example"},
        purge=True,
        allow_purge_all=True,
    )
    assert allowed.removed == {"a.example": ["alice", "bob"]}


def test_purge_guard_ignores_domains_that_are_empty_already():
    result = plan([], [], scope={"a.example"}, purge=True)
    assert not result.changed


def test_username_case_follows_the_call_when_the_column_is_case_insensitive():
    rows = [row(1, "Alice")]
    result = plan([entry("alice")], rows)
    assert result.updates == [
        (
            1,
            "alice",
            "a.example",
            "",
            calc_ha1("alice", "a.example", "pw"),
            calc_ha1b("alice", "a.example", "pw"),
        )
    ]
    assert result.diff["before"] == {"subscribers": {"a.example": ["Alice"]}}
    assert result.diff["after"]["subscribers"] == {"a.example": ["alice"]}
    # With a case-sensitive collation they are two accounts.
    separate = plan([entry("alice")], rows, username_ci=False)
    assert separate.added == {"a.example": ["alice"]}


def test_usernames_differing_in_case_only_are_refused_on_a_case_insensitive_column():
    with pytest.raises(PlanError, match="one account to the database"):
        plan([entry("alice"), entry("Alice")], [])
    assert plan([entry("alice"), entry("Alice")], [], username_ci=False).changed


def test_domain_stored_in_uppercase_is_rewritten_lowercase():
    stored = SubscriberRow(
        1,
        "alice",
        "A.Example",
        "",
        calc_ha1("alice", "A.Example", "pw"),
        calc_ha1b("alice", "A.Example", "pw"),
    )
    result = plan([entry("alice")], [stored])
    assert [(u[0], u[2]) for u in result.updates] == [(1, "a.example")]


def test_statement_order_deletes_before_updates_before_inserts():
    rows = [row(1, "alice"), row(2, "bob")]
    result = plan(
        [entry("alice", password="new"), entry("bob", state="absent"), entry("carol")], rows
    )
    kinds = [query.split()[0] for query, _params in result.statements()]
    assert kinds == ["DELETE", "UPDATE", "INSERT"]


def test_bulk_plan_of_many_domains():
    entries = [entry("u%03d" % i, "d%02d.example" % (i % 10)) for i in range(500)]
    result = plan(entries, [])
    assert len(result.inserts) == 500
    assert len(result.added) == 10
    assert len(result.statements()) == 1
    rerun = plan(entries, [row(i + 1, e.username, e.domain) for i, e in enumerate(entries)])
    assert not rerun.changed


def test_diff_never_holds_secrets():
    secret = "very-secret-password"
    result = plan(
        [entry("alice", password=secret), entry("bob", password=secret)],
        [row(1, "alice")],
    )
    text = repr(result.diff) + repr(result.added) + repr(result.updated)
    assert secret not in text
    assert calc_ha1("alice", "a.example", secret) not in text


# --- domains --------------------------------------------------------------------------------


def dentry(name, did=None, attrs=None, state="present"):
    return DomainEntry(name, did, normalize_attrs(attrs), state)


def attr(row_id, did, name, value):
    if isinstance(value, int):
        return AttrRow(row_id, did, name, 0, str(value))
    return AttrRow(row_id, did, name, 2, value)


def test_new_domain_with_attrs():
    result = plan_domains([dentry("a.example", attrs={"max": 5, "name": "A"})], [], [])
    assert result.inserts == [("a.example", None)]
    assert sorted(result.attr_inserts) == [
        ("a.example", "max", 0, "5"),
        ("a.example", "name", 2, "A"),
    ]
    assert result.added == ["a.example"]
    assert result.diff == {
        "before": {},
        "after": {"domains": {"a.example": {"did": None, "attrs": {"max": 5, "name": "A"}}}},
    }


def test_existing_domain_and_attrs_mean_no_change():
    rows = [DomainRow(1, "a.example", None)]
    attrs = [attr(1, "a.example", "max", 5)]
    result = plan_domains([dentry("a.example", attrs={"max": 5})], rows, attrs)
    assert not result.changed
    assert result.diff == {"before": {}, "after": {}}
    # attrs omitted: existing attributes are left alone.
    assert not plan_domains([dentry("a.example")], rows, attrs).changed


def test_attrs_become_exactly_the_given_ones():
    rows = [DomainRow(1, "a.example", None)]
    attrs = [
        attr(1, "a.example", "max", 5),
        attr(2, "a.example", "old", "x"),
        attr(3, "a.example", "max", 5),  # duplicate row
    ]
    result = plan_domains([dentry("a.example", attrs={"max": 5, "new": 1})], rows, attrs)
    assert sorted(r.id for r in result.attr_deletes) == [2, 3]
    assert result.attr_inserts == [("a.example", "new", 0, "1")]
    assert result.updated == ["a.example"]
    assert result.diff["before"]["domains"]["a.example"]["attrs"] == {"max": [5, 5], "old": "x"}
    assert result.diff["after"]["domains"]["a.example"]["attrs"] == {"max": 5, "new": 1}


def test_type_matters_for_attrs():
    rows = [DomainRow(1, "a.example", None)]
    attrs = [attr(1, "a.example", "code", "5")]  # string "5"
    result = plan_domains([dentry("a.example", attrs={"code": 5})], rows, attrs)
    assert [r.id for r in result.attr_deletes] == [1]
    assert result.attr_inserts == [("a.example", "code", 0, "5")]


def test_empty_attrs_remove_all():
    rows = [DomainRow(1, "a.example", None)]
    attrs = [attr(1, "a.example", "max", 5)]
    result = plan_domains([dentry("a.example", attrs={})], rows, attrs)
    assert [r.id for r in result.attr_deletes] == [1]


def test_did_change_is_an_update_and_frees_old_attrs():
    rows = [DomainRow(1, "a.example", None)]
    attrs = [attr(1, "a.example", "max", 5)]
    result = plan_domains([dentry("a.example", did="tenant-a")], rows, attrs)
    assert result.updates == [(1, "a.example", "tenant-a")]
    assert [r.id for r in result.attr_deletes] == [1]
    assert result.updated == ["a.example"]


def test_absent_removes_domain_and_attrs_of_an_unshared_did():
    rows = [DomainRow(1, "a.example", None), DomainRow(2, "b.example", None)]
    attrs = [attr(1, "a.example", "max", 5), attr(2, "b.example", "max", 6)]
    result = plan_domains([dentry("a.example", state="absent")], rows, attrs)
    assert [r.id for r in result.deletes] == [1]
    assert [r.id for r in result.attr_deletes] == [1]
    assert result.removed == ["a.example"]
    assert result.diff == {
        "before": {"domains": {"a.example": {"did": None, "attrs": {"max": 5}}}},
        "after": {},
    }


def test_absent_keeps_attrs_of_a_did_another_domain_uses():
    rows = [DomainRow(1, "a.example", "tenant"), DomainRow(2, "b.example", "tenant")]
    attrs = [attr(1, "tenant", "max", 5)]
    result = plan_domains([dentry("a.example", state="absent")], rows, attrs)
    assert [r.id for r in result.deletes] == [1]
    assert result.attr_deletes == []
    # ... and removes them with the last domain of the did.
    both = plan_domains(
        [dentry("a.example", state="absent"), dentry("b.example", state="absent")], rows, attrs
    )
    assert [r.id for r in both.attr_deletes] == [1]


def test_absent_of_a_missing_domain_is_no_change():
    assert not plan_domains([dentry("x.example", state="absent")], [], []).changed


def test_domain_purge_and_its_guard():
    rows = [DomainRow(1, "a.example", None), DomainRow(2, "b.example", None)]
    result = plan_domains([dentry("a.example"), dentry("c.example")], rows, [], purge=True)
    assert result.removed == ["b.example"]
    assert result.added == ["c.example"]
    with pytest.raises(PlanError, match="every domain"):
        plan_domains([], rows, [], purge=True)
    with pytest.raises(PlanError, match="allow_purge_all"):
        plan_domains([dentry("c.example")], rows, [], purge=True)
    everything = plan_domains([], rows, [], purge=True, allow_purge_all=True)
    assert everything.removed == ["a.example", "b.example"]


def test_uppercase_domain_row_is_rewritten_lowercase():
    rows = [DomainRow(1, "A.Example", None)]
    result = plan_domains([dentry("a.example")], rows, [])
    assert result.updates == [(1, "a.example", None)]
    assert result.updated == ["a.example"]


def test_conflicting_attrs_for_one_did_are_refused():
    with pytest.raises(PlanError, match="share did 'tenant'"):
        plan_domains(
            [
                dentry("a.example", did="tenant", attrs={"max": 1}),
                dentry("b.example", did="tenant", attrs={"max": 2}),
            ],
            [],
            [],
        )


def test_domain_statement_order():
    rows = [DomainRow(1, "a.example", None), DomainRow(2, "b.example", None)]
    attrs = [attr(1, "a.example", "max", 5)]
    result = plan_domains(
        [dentry("a.example", state="absent"), dentry("b.example", did="x"), dentry("c.example")],
        rows,
        attrs,
    )
    kinds = [" ".join(query.split()[:3]) for query, _params in result.statements()]
    assert kinds == [
        "DELETE FROM domain_attrs",
        "DELETE FROM domain",
        "UPDATE domain SET",
        "INSERT INTO domain",
    ]
