"""Validators and digest hashing of kamailio_validate: pure, no database."""

import hashlib
import random
import re

import pytest

from ansible_collections.sipstack.kamailio.plugins.module_utils import kamailio_validate
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ATTR_TYPE_INT,
    ATTR_TYPE_STR,
    Listing,
    ValidationError,
    attrs_for_display,
    calc_ha1,
    calc_ha1b,
    check_did,
    check_hash,
    check_password,
    check_state,
    check_username,
    credential_hashes,
    is_hash,
    is_password,
    is_username,
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


# --- the one-step tests the bulk path uses ----------------------------------------------------


def accepts(check, value, *args):
    try:
        check(value, "field", *args)
    except ValidationError:
        return False
    return True


TEXTS = [
    None,
    1001,
    True,
    "",
    "a",
    "alice",
    "-alice",
    "al-ice",
    "a" * 64,
    "a" * 65,
    "a%40b",
    "a%4",
    "a%zz",
    "a b",
    " a",
    "a ",
    "a\n",
    "a\x00b",
    "a\x85b",
    "a\u00a0",
    "{{ x }}",
    "a{%b",
    "{#",
    "{x}",
    "pässwörd",
    "x" * 255,
    "x" * 256,
    "0" * 32,
    "0" * 31,
    "A" * 32,
    "g" * 32,
    "0123456789abcdef" * 2,
]


@pytest.mark.parametrize("value", TEXTS)
def test_one_step_tests_accept_exactly_what_the_checks_accept(value):
    assert is_username(value) == accepts(check_username, value)
    assert is_hash(value) == accepts(check_hash, value)
    for store_plaintext in (False, True):
        assert is_password(value, store_plaintext) == accepts(
            check_password, value, store_plaintext
        )


def test_credential_hashes_are_ha1_and_ha1b():
    assert credential_hashes("alice", "a.example", "pässwörd") == (
        calc_ha1("alice", "a.example", "pässwörd"),
        calc_ha1b("alice", "a.example", "pässwörd"),
    )


def test_listing_names_places_only_in_its_message():
    listing = Listing("entry {}".format, "items[{}]".format)
    listing.add("a", 0)
    listing.add("b", 1)
    with pytest.raises(
        ValidationError, match=r"^items\[2\]: entry a is listed twice \(also items\[0\]\)$"
    ):
        listing.add("a", 2)


# The patterns as first written, one alternative per character: the faster ones must match the
# same strings.
USER_AS_WRITTEN = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+")
SUSPECT_AS_WRITTEN = re.compile(r"[\x00-\x1f\x7f-\x9f]|\{[{%#]|^\s|\s$")
ALPHABET = "aZ09-_.!~*'()&=+$,;?/%4fG:@{}#\\ \t\n\r\x00\x1f\x7f\x85\x9f\xa0\u2028\u3000é"


def texts(count=20000):
    """Short strings of ALPHABET, the same in every run."""
    rng = random.Random(12)  # noqa: S311 - test data, not secrets
    for _index in range(count):
        yield "".join(rng.choices(ALPHABET, k=rng.randint(0, 8)))


def test_user_pattern_matches_what_it_was_written_as():
    for text in texts():
        fast = bool(text) and kamailio_validate._USER.fullmatch(text) is not None
        assert fast == (USER_AS_WRITTEN.fullmatch(text) is not None), repr(text)


def test_suspect_test_matches_the_pattern():
    for text in texts():
        assert kamailio_validate._suspect(text) == bool(SUSPECT_AS_WRITTEN.search(text)), repr(text)


def test_isspace_is_the_patterns_whitespace():
    for char in map(chr, range(0x110000)):
        assert char.isspace() == (re.fullmatch(r"\s", char) is not None), hex(ord(char))
