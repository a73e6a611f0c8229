"""Validators and digest hashing of kamailio_validate: pure, no database."""

import hashlib

import pytest

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ATTR_TYPE_INT,
    ATTR_TYPE_STR,
    ValidationError,
    attrs_for_display,
    calc_ha1,
    calc_ha1b,
    check_did,
    check_hash,
    check_password,
    check_state,
    check_username,
    normalize_attrs,
    normalize_domain,
)

# --- hashing ----------------------------------------------------------------------------------


def test_ha1_matches_the_rfc_2617_example():
    # RFC 2617 section 3.5: Mufasa / testrealm@host.com / "Circle Of Life".
    assert calc_ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == (
        "939e7578ed9e3c518a452acee763bce9"
    )


def test_ha1b_is_md5_of_user_at_domain_domain_password():
    expected = hashlib.md5(b"alice@a.example:a.example:s3cret").hexdigest()  # noqa: S324
    assert calc_ha1b("alice", "a.example", "s3cret") == expected


def test_ha1_of_kamctl_form():
    expected = hashlib.md5(b"alice:a.example:s3cret").hexdigest()  # noqa: S324
    assert calc_ha1("alice", "a.example", "s3cret") == expected


def test_hashes_use_utf8_bytes():
    expected = hashlib.md5("bob:b.example:pässwörd".encode()).hexdigest()  # noqa: S324
    assert calc_ha1("bob", "b.example", "pässwörd") == expected


# --- domains ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("a.example", "a.example"),
        ("SIP.Tenant-1.Example", "sip.tenant-1.example"),
        ("localhost", "localhost"),
        ("192.0.2.10", "192.0.2.10"),
        ("x" * 62 + ".a", "x" * 62 + ".a"),
        ("x" * 63, "x" * 63),
        ("a" * 30 + "." + "b" * 33, "a" * 30 + "." + "b" * 33),  # exactly 64
    ],
)
def test_domain_is_accepted_and_lowercased(given, stored):
    assert normalize_domain(given) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "must not be empty"),
        ("a..example", "empty label"),
        (".a.example", "empty label"),
        ("a.example.", "empty label"),
        ("a_b.example", "letters, digits and hyphens"),
        ("a b.example", "letters, digits and hyphens"),
        ("a.exa'mple", "letters, digits and hyphens"),
        ("-a.example", "hyphen"),
        ("a-.example", "hyphen"),
        ("x" * 64 + ".a", "at most 64"),
        ("x" * 64, "longer than 63"),
        ("a" * 30 + "." + "b" * 34, "at most 64"),
        ("ä.example", "letters, digits and hyphens"),
    ],
)
def test_bad_domain_is_rejected_naming_field_and_value(given, reason):
    with pytest.raises(ValidationError) as err:
        normalize_domain(given, "subscribers[3] domain")
    message = str(err.value)
    assert message.startswith("subscribers[3] domain")
    assert reason in message
    if given:
        assert repr(given) in message


def test_domain_must_be_a_string():
    with pytest.raises(ValidationError, match="must be a string, got int"):
        normalize_domain(5)


# --- usernames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "Alice.Smith",
        "+4930123456",
        "o'neil",
        "a;b=c",
        "a&b=c+d$e,f;g?h/i",
        "_.!~*'()-",
        "%41lice",
        "x%2fy",
        "u" * 64,
    ],
)
def test_rfc_3261_user_parts_are_accepted(name):
    assert check_username(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("al ice", "' '"),
        ("al@ice", "'@'"),
        ("al:ice", "':'"),
        ('al"ice', "'\"'"),
        ("al\\ice", "'\\\\'"),
        ("<alice>", "'<'"),
        ("alice%", "escape"),
        ("alice%4", "escape"),
        ("alice%zz", "escape"),
        ("u" * 65, "at most 64"),
        ("ålice", "'å'"),
    ],
)
def test_bad_usernames_are_rejected_naming_field_and_value(name, reason):
    with pytest.raises(ValidationError) as err:
        check_username(name, "subscribers[7] username")
    message = str(err.value)
    assert message.startswith("subscribers[7] username")
    assert reason in message
    if name:
        assert repr(name) in message


# --- hashes and passwords: never echoed ----------------------------------------------------


def test_hash_is_accepted():
    value = "0123456789abcdef0123456789abcdef"
    assert check_hash(value, "ha1") == value


@pytest.mark.parametrize(
    "value",
    [
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdeg",
        "",
    ],
)
def test_bad_hash_is_rejected_without_echoing_it(value):
    with pytest.raises(ValidationError) as err:
        check_hash(value, "subscribers[2] ha1b")
    message = str(err.value)
    assert "subscribers[2] ha1b" in message
    assert "32 lowercase hexadecimal" in message
    if value:
        assert value not in message


def test_password_messages_never_hold_the_password():
    secret = "x" * 65
    with pytest.raises(ValidationError) as err:
        check_password(secret, "password", store_plaintext=True)
    assert secret not in str(err.value)
    assert "at most 64" in str(err.value)
    # Without store_plaintext the length does not matter.
    assert check_password(secret, "password") == secret
    with pytest.raises(ValidationError, match="must not be empty"):
        check_password("", "password")
    with pytest.raises(ValidationError, match="must be a string"):
        check_password(1234, "password")


def test_state_and_did():
    assert check_state("absent") == "absent"
    with pytest.raises(ValidationError, match="state must be one of present, absent"):
        check_state("gone")
    assert check_did(None) is None
    assert check_did("tenant-1") == "tenant-1"
    with pytest.raises(ValidationError, match="must not be empty"):
        check_did("")
    with pytest.raises(ValidationError, match="at most 64"):
        check_did("d" * 65)


# --- domain attributes --------------------------------------------------------------------------


def test_attrs_map_to_kamailio_types():
    assert normalize_attrs({"max": 5, "name": "Tenant A", "neg": -1}) == {
        "max": (ATTR_TYPE_INT, "5"),
        "name": (ATTR_TYPE_STR, "Tenant A"),
        "neg": (ATTR_TYPE_INT, "-1"),
    }
    assert normalize_attrs(None) is None
    assert normalize_attrs({}) == {}


def test_attrs_display_round_trips():
    given = {"max": 5, "name": "Tenant A", "digits": "0042"}
    assert attrs_for_display(normalize_attrs(given)) == given


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ({"flag": True}, "integer or a string, got bool"),
        ({"ratio": 1.5}, "integer or a string, got float"),
        ({"list": [1]}, "integer or a string, got list"),
        ({"": 1}, "non-empty string"),
        ({"n" * 33: 1}, "longer than 32"),
        ({"long": "v" * 256}, "longer than 255"),
        ("max=5", "must be a dictionary"),
    ],
)
def test_bad_attrs_are_rejected(attrs, reason):
    with pytest.raises(ValidationError, match=reason):
        normalize_attrs(attrs, "domains[0] attrs")
