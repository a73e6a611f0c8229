"""The shape of a tenant and the checks between tenants (kamailio_tenant): pure, no database."""

import pytest

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant import (
    Account,
    TenantError,
    check_tree,
    parse_tenant,
    parse_tenants,
    to_data,
    with_hashes,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ValidationError,
    calc_ha1,
    calc_ha1b,
)

HA1 = "0" * 32
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


def tenant(**extra):
    data = {"domain": "a.example", "subscribers": [{"username": "alice", "password": "pw-1"}]}
    data.update(extra)
    return data


def problems_of(data, source="a.yml", name="a"):
    with pytest.raises(TenantError) as caught:
        parse_tenant(data, source, name)
    return caught.value.problems


def test_a_plain_tenant_file_parses_with_its_file_name_as_name():
    parsed = parse_tenant(tenant(domain="A.Example"), "a.yml", "a")
    assert parsed.name == "a"
    assert parsed.domain == "a.example"
    assert parsed.state == "present"
    assert parsed.adopt is False
    assert parsed.subscribers == (Account("alice", "present", "pw-1", None, None),)


def test_extension_numbers_are_taken_as_text():
    parsed = parse_tenant(
        tenant(subscribers=[{"username": 1001, "ha1": HA1, "ha1b": HA1}]), "a", "a"
    )
    assert parsed.subscribers[0].username == "1001"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # template markers anywhere, known keys or not, nested or not
        ({"name": "evil{{ lookup('pipe', 'id') }}"}, "a.yml.name holds a template marker ({{)"),
        ({"attrs": {"x": "{% if %}"}}, "a.yml.attrs.x holds a template marker ({%)"),
        ({"attrs": {"{#x": 1}}, "a.yml.attrs: key holds a template marker ({#)"),
        ({"note": "{{ x }}"}, "a.yml.note holds a template marker"),
        (
            {"subscribers": [{"username": "u", "password": "x{{ kamailio_db_password }}"}]},
            "a.yml.subscribers[0].password holds a template marker",
        ),
        # control characters and whitespace
        ({"did": "x\x00y"}, "did 'x\\x00y' holds a control character at position 1"),
        ({"domain": "a.example\n"}, "domain 'a.example\\n' holds a control character"),
        ({"did": " x"}, "did ' x' has leading or trailing whitespace"),
        ({"attrs": {"\x01x": 1}}, "attribute name '\\x01x' holds a control character"),
        ({"attrs": {"x": "v\x7f"}}, "attrs.x 'v\\x7f' holds a control character"),
        ({"attrs": {"x": "v "}}, "attrs.x 'v ' has leading or trailing whitespace"),
        # ranges and lengths Kamailio would refuse
        ({"attrs": {"x": 2**31}}, "integer 2147483648 is outside -2147483648..2147483647"),
        ({"attrs": {"x": -(2**31) - 1}}, "integer -2147483649 is outside"),
        ({"attrs": {"x": "v" * 256}}, "attrs.x: value is longer than 255 characters"),
        ({"attrs": {"y" * 33: 1}}, "is longer than 32 characters"),
        ({"attrs": {"tenant": "b"}}, "attribute name 'tenant' is reserved"),
        ({"attrs": {"x": 1.5}}, "must be an integer or a string, got float"),
        ({"did": "d" * 65}, "at most 64 fit the column"),
        ({"did": "a b"}, "did 'a b' may hold only letters"),
        ({"domain": "x" * 60 + ".example"}, "at most 64 fit the column"),
        # subscribers
        ({"subscribers": [{"username": "-rf", "password": "p"}]}, "starts with '-'"),
        ({"subscribers": [{"username": "u", "password": None}]}, "password must not be null"),
        ({"subscribers": [{"username": "u", "password": ""}]}, "password must not be empty"),
        ({"subscribers": [{"username": "u", "password": "p\n"}]}, "password holds a control"),
        ({"subscribers": [{"username": "u", "password": " p"}]}, "password has leading or"),
        ({"subscribers": [{"username": "u", "password": 1234}]}, "password must be a string"),
        ({"subscribers": [{"username": "u"}]}, "needs a password, or ha1 and ha1b"),
        ({"subscribers": [{"username": "u", "ha1": HA1}]}, "give a password, or ha1 and ha1b"),
        ({"subscribers": [{"username": "u", "ha1": "X" * 32, "ha1b": HA1}]}, "ha1 must be 32"),
        ({"subscribers": [{"username": "u", "pass": "p"}]}, "unknown key(s) pass"),
        ({"subscribers": [{"username": "u" * 65, "password": "p"}]}, "at most 64 fit"),
        ({"subscribers": "alice"}, "subscribers must be a list, got str"),
        (
            {
                "subscribers": [
                    {"username": "Al", "password": "p"},
                    {"username": "al", "password": "q"},
                ]
            },
            "user al is listed twice",
        ),
        # the tenant itself
        ({"domain": None}, "domain must be a string"),
        ({"state": "gone"}, "state must be one of present, absent"),
        ({"adopt": "yes"}, "adopt must be true or false"),
        ({"purge_subscribers": 1}, "purge_subscribers must be true or false"),
        (
            {"tls": {"certificate": "/etc/passwd", "private_key": PEM}},
            "tls.certificate must be PEM",
        ),
        ({"tls": {"certificate": PEM}}, "tls needs exactly certificate, private_key"),
        (
            {"tls": {"certificate": PEM, "private_key": PEM.replace("MI", "M\x00")}},
            "tls.private_key holds a",
        ),
        ({"tls": "x"}, "tls must be a dictionary"),
        ({"color": "blue"}, "unknown key(s) color"),
        ({"name": "a/b"}, "name 'a/b' may hold only letters"),
    ],
)
def test_every_rule_names_the_file_and_the_field(data, expected):
    found = problems_of(tenant(**data))
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith("a.yml") for problem in found), found


def test_a_tls_certificate_is_kept_as_pem_text():
    parsed = parse_tenant(tenant(tls={"certificate": PEM + "\n", "private_key": PEM}), "a", "a")
    assert parsed.tls.certificate == PEM
    assert to_data(parsed)["tls"] == {"certificate": PEM, "private_key": PEM}


def test_secrets_never_appear_in_a_message():
    secret = "Sup3r secret "  # noqa: S105 - a test value
    found = problems_of(tenant(subscribers=[{"username": "u", "password": secret}]))
    assert found and secret.strip() not in " ".join(found)


def test_every_problem_of_a_file_is_reported_at_once():
    found = problems_of(tenant(did="a b", state="gone", subscribers=[{"username": "-x"}]))
    assert len(found) == 3, found


def test_a_tenant_that_is_not_a_dictionary_is_refused():
    assert problems_of(["a"]) == ["a.yml: a tenant must be a dictionary, got list"]


def test_aliases_and_non_string_keys_are_refused():
    shared = {"username": "u", "password": "p"}
    with pytest.raises(ValidationError, match="YAML aliases"):
        check_tree({"subscribers": [shared, shared]}, "f")
    with pytest.raises(ValidationError, match="key 1 must be a string"):
        check_tree({"attrs": {1: "x"}}, "f")


def test_a_domain_a_name_or_a_did_claimed_twice_is_refused_naming_both_files():
    items = [
        ("a.yml", tenant(), "a"),
        ("b.yml", tenant(domain="A.example"), "b"),
        ("c.yml", tenant(domain="c.example", did="a.example"), "c"),
        ("d.yml", tenant(domain="d.example", name="a"), "x"),
    ]
    with pytest.raises(TenantError) as caught:
        parse_tenants(items)
    text = str(caught.value)
    assert "b.yml (tenant b): domain a.example is also claimed by a.yml (tenant a)" in text
    assert "c.yml (tenant c): did a.example is also claimed by a.yml (tenant a)" in text
    assert "d.yml (tenant a): name a is also claimed by a.yml (tenant a)" in text


def test_a_did_equal_to_another_tenants_domain_is_refused_in_either_order():
    for items in (
        [
            ("x.yml", tenant(domain="x.example", did="y.example"), "x"),
            ("y.yml", tenant(domain="y.example"), "y"),
        ],
        [
            ("y.yml", tenant(domain="y.example"), "y"),
            ("x.yml", tenant(domain="x.example", did="y.example"), "x"),
        ],
    ):
        with pytest.raises(TenantError, match=r"did y\.example is also claimed"):
            parse_tenants(items)


def test_two_tenants_sharing_nothing_parse():
    parsed = parse_tenants([("a.yml", tenant(), "a"), ("b.yml", tenant(domain="b.example"), "b")])
    assert [t.name for t in parsed] == ["a", "b"]


def test_passwords_become_hashes_of_the_tenant_realm_and_round_trip():
    parsed = parse_tenant(tenant(attrs={"n": 5, "s": "x"}, did="d1"), "a.yml", "a")
    hashed = with_hashes(parsed)
    account = hashed.subscribers[0]
    assert account.password is None
    assert account.ha1 == calc_ha1("alice", "a.example", "pw-1")
    assert account.ha1b == calc_ha1b("alice", "a.example", "pw-1")
    again = parse_tenant(to_data(hashed), "a.yml")
    assert again == hashed
