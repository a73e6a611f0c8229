"""Planning a whole tenant list against the database rows (kamailio_tenant_plan): pure."""

import hashlib

import pytest

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    AttrRow,
    DomainRow,
    PlanError,
    SubscriberRow,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant import (
    parse_tenant,
    with_hashes,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant_plan import (
    EMPTY,
    Digest,
    changes_by_tenant,
    check_ownership,
    differing_domains,
    digest_of,
    digests_by_domain,
    plan_tenants,
    wanted_digest,
)

H = "a" * 32


def tenant(name, domain, users=(), **extra):
    data = dict(domain=domain, subscribers=[{"username": u, "ha1": H, "ha1b": H} for u in users])
    data.update(extra)
    return with_hashes(parse_tenant(data, name + ".yml", name))


def owned(row_id, domain, owner, did=None):
    return DomainRow(row_id, domain, did), AttrRow(row_id, did or domain, "tenant", 2, owner)


def test_digest_is_order_free_and_sees_every_byte():
    a = digest_of([("alice", "", "h1", "h2"), ("bob", None, "h3", "h4")])
    assert a == digest_of([("bob", "", "h3", "h4"), ("alice", "", "h1", "h2")])
    assert a != digest_of([("alice", "", "h1", "h2"), ("bob", "", "h3", "h5")])
    assert digest_of([]) == EMPTY
    raw = hashlib.md5("x\x1fp\x1fh1\x1fh2".encode()).digest()  # noqa: S324
    assert digest_of([("x", "p", "h1", "h2")]) == Digest(
        1, int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")
    )


def test_only_tenants_whose_digest_differs_are_read():
    same = tenant("a", "a.example", ["alice"])
    other = tenant("b", "b.example", ["bob"])
    stored = {"a.example": wanted_digest(same), "b.example": EMPTY}
    assert differing_domains([same, other], stored) == ["b.example"]
    assert differing_domains([tenant("c", "c.example")], {}) == []


def test_a_new_domain_and_an_owned_domain_are_accepted():
    rows, attr = owned(1, "a.example", "a")
    assert (
        check_ownership([tenant("a", "a.example"), tenant("n", "new.example")], [rows], [attr])
        == []
    )


def test_another_tenants_domain_is_refused_also_with_state_absent():
    rows, attr = owned(1, "a.example", "a")
    for thief in (tenant("b", "a.example"), tenant("b", "a.example", state="absent")):
        with pytest.raises(
            PlanError, match=r"b.yml \(tenant b\): domain a.example belongs to tenant a"
        ):
            check_ownership([thief], [rows], [attr])


def test_an_unowned_domain_needs_adopt():
    row = DomainRow(1, "legacy.example", None)
    with pytest.raises(PlanError, match="belongs to no tenant; add 'adopt: true'"):
        check_ownership([tenant("l", "legacy.example")], [row], [])
    assert check_ownership([tenant("l", "legacy.example", adopt=True)], [row], []) == []


def test_a_did_belongs_to_one_tenant():
    rows, attr = owned(1, "a.example", "a", did="shared")
    with pytest.raises(PlanError, match=r"did shared is used by domain\(s\) a\.example"):
        check_ownership([tenant("b", "b.example", did="shared")], [rows], [attr])
    orphan = AttrRow(9, "lonely", "tenant", 2, "a")
    with pytest.raises(PlanError, match="did lonely belongs to tenant a"):
        check_ownership([tenant("b", "b.example", did="lonely")], [], [orphan])


def test_purge_removes_owned_domains_without_a_tenant_up_to_the_limit():
    a, a_attr = owned(1, "a.example", "a")
    b, b_attr = owned(2, "b.example", "b")
    c, c_attr = owned(3, "c.example", "c")
    legacy = DomainRow(4, "legacy.example", None)
    rows, attrs = [a, b, c, legacy], [a_attr, b_attr, c_attr]
    only_a = [tenant("a", "a.example")]
    assert check_ownership(only_a, rows, attrs, purge=False) == []
    with pytest.raises(
        PlanError, match=r"would remove 2 tenants \(b \(b.example\), c \(c.example\)\)"
    ):
        check_ownership(only_a, rows, attrs, purge=True, purge_max=1)
    stale = check_ownership(only_a, rows, attrs, purge=True, purge_max=2)
    assert [(s.name, s.domain) for s in stale] == [("b", "b.example"), ("c", "c.example")]
    # state: absent is explicit: it does not count against the limit
    explicit = [*only_a, tenant("b", "b.example", state="absent")]
    assert [s.name for s in check_ownership(explicit, rows, attrs, purge=True)] == ["c"]


def test_plan_creates_owned_domains_removes_absent_ones_with_their_users():
    a, a_attr = owned(1, "a.example", "a")
    rows = [SubscriberRow(7, "old", "a.example", "", H, H)]
    tenants = [tenant("a", "a.example", state="absent"), tenant("n", "n.example", ["nora"])]
    plan = plan_tenants(tenants, [a], [a_attr], rows, ["n.example"], [])
    assert plan.domains.inserts == [("n.example", None)]
    assert ("n.example", "tenant", 2, "n") in plan.domains.attr_inserts
    assert [r.id for r in plan.domains.deletes] == [1]
    assert [r.id for r in plan.domains.attr_deletes] == [1]
    assert [r.id for r in plan.subscribers.deletes] == [7]
    assert changes_by_tenant(plan) == {
        "a": {"domain": "a.example", "domain_removed": True, "users_removed": ["old"]},
        "n": {"domain": "n.example", "domain_added": True, "users_added": ["nora"]},
    }


def test_tenants_that_keep_unlisted_users_keep_them():
    a, a_attr = owned(1, "a.example", "a")
    rows = [SubscriberRow(7, "manual", "a.example", "", H, H)]
    keep = tenant("a", "a.example", ["alice"])
    purge = tenant("a", "a.example", ["alice"], purge_subscribers=True)
    assert plan_tenants([keep], [a], [a_attr], rows, ["a.example"], []).subscribers.deletes == []
    plan = plan_tenants([purge], [a], [a_attr], rows, ["a.example"], [])
    assert [r.id for r in plan.subscribers.deletes] == [7]


def test_digests_by_domain_is_digest_of_each_domain():
    rows = [
        ("a.example", "alice", "", "h1", "h2"),
        ("b.example", "alice", "pw", "h3", "h4"),
        ("a.example", "bob", None, "h5", "h6"),
    ]
    assert digests_by_domain(rows) == {
        "a.example": digest_of([("alice", "", "h1", "h2"), ("bob", None, "h5", "h6")]),
        "b.example": digest_of([("alice", "pw", "h3", "h4")]),
    }
    assert digests_by_domain([]) == {}
