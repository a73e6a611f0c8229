# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure validators and digest hashing for Kamailio tenant data.

The one definition of a valid value: the modules, the tenant loader (action plugin) and the tenants
role all validate with these functions. Nothing here touches a database or Ansible: every
function takes plain values and either returns the normalised value or raises ValidationError with
a message that names the field and the bad value. Secrets (passwords, hashes) are never put into a
message.

The rules are those of Kamailio itself, so that nothing accepted here can make Kamailio refuse its
tables later: a value the domain module cannot load breaks `domain.reload` (and the next start) for
every tenant, not only for the one that sent it.
"""

import hashlib
import re

# Column widths of Kamailio's MySQL schema (subscriber 7, domain 2, domain_attrs 1).
DOMAIN_MAX = 64
USERNAME_MAX = 64
DID_MAX = 64
PLAINTEXT_MAX = 64
ATTR_NAME_MAX = 32
ATTR_VALUE_MAX = 255
# Not a column: a digest is computed from it. Long enough for any generated password.
PASSWORD_MAX = 255
TENANT_NAME_MAX = 64
# A certificate chain or a key; far above any real one.
PEM_MAX = 65536

# domain_attrs.type values understood by Kamailio's domain module.
ATTR_TYPE_INT = 0
ATTR_TYPE_STR = 2
# domain_attrs attribute that records which tenant owns a did; only the tenant sync writes it.
OWNER_ATTR = "tenant"
# The domain module parses integer attributes into a C int: `domain.reload` fails on anything
# outside it (measured on 5.6 and 6.0 with 2147483648 and -2147483649).
ATTR_INT_MIN = -(2**31)
ATTR_INT_MAX = 2**31 - 1

STATES = ("present", "absent")

_LABEL = re.compile(r"[A-Za-z0-9-]+")
_HASH = re.compile(r"[0-9a-f]{32}")
# RFC 3261 user part: unreserved / escaped / user-unreserved.
_USER_CHAR = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# The same user parts as runs of those characters between escapes: one step per run instead of
# one alternation per character (0.18 against 0.37 us for a 10-character name), and no two ways
# to match a character. The empty string matches; is_username requires a character.
_USER = re.compile(
    r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]*(?:%[0-9A-Fa-f]{2}[A-Za-z0-9\-_.!~*'()&=+$,;?/]*)*"
)
# A did is an opaque key to Kamailio, compared as bytes and used as an AVP value; keep it to
# characters that survive every tool (kamcmd, SQL consoles, logs) unchanged.
_DID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+~-]*")
# Attribute names become AVP names in the routing script ($avp(name)).
_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# C0 and C1 control characters, DEL included.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Jinja's statement, expression and comment openers: data that holds one is refused, so that no
# later path (module arguments, diffs, debug output) can ever render it.
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")
# PEM is printable ASCII in lines.
_PEM_BAD = re.compile(r"[^\x20-\x7e\n\r]")
# Anything check_plain_text refuses, in one search: the common clean value passes in one step.
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f]|\{[{%#]|^\s|\s$")
# What every match of _SUSPECT but a whitespace end starts with: one character class, which the
# regex engine scans for at once (see _suspect).
_SUSPECT_HINT = re.compile(r"[\x00-\x1f\x7f-\x9f{]")


class ValidationError(ValueError):
    """A value supplied by the user is not acceptable."""


def _text(value, field):
    if not isinstance(value, str):
        raise ValidationError("%s must be a string, got %s" % (field, type(value).__name__))
    return value


def _fits_column(value, field, limit):
    if len(value) > limit:
        raise ValidationError(
            "%s %r is %d characters long, at most %d fit the column"
            % (field, value, len(value), limit)
        )


def _suspect(value):
    """_SUSPECT.search(value), in half the time for the common clean value: without a
    control character or a '{', only a whitespace end can match (str.isspace() and the regex's
    \\s agree on every character)."""
    if _SUSPECT_HINT.search(value) is None:
        return value[:1].isspace() or value[-1:].isspace()
    return _SUSPECT.search(value) is not None


def check_plain_text(value, field, secret=False):
    """Refuse what no field may hold: control characters (a NUL, a newline, ...), leading or
    trailing whitespace (a YAML block scalar's newline), and template markers.

    The value is named in the message unless it is a secret.
    """
    if not _suspect(value):
        return value
    shown = "" if secret else " %r" % value
    if _CONTROL.search(value):
        position = _CONTROL.search(value).start()
        raise ValidationError(
            "%s%s holds a control character at position %d" % (field, shown, position)
        )
    if value != value.strip():
        raise ValidationError("%s%s has leading or trailing whitespace" % (field, shown))
    if _TEMPLATE.search(value):
        raise ValidationError(
            "%s%s holds a template marker ({{, {%% or {#); tenant data is never templated"
            % (field, shown)
        )
    return value


def normalize_domain(value, field="domain"):
    """Return a DNS name lowercased, or raise ValidationError.

    Labels hold letters, digits and hyphens, do not start or end with a hyphen, are 1-63
    characters long; the whole name fits the 64-character column.
    """
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty" % field)
    check_plain_text(value, field)
    _fits_column(value, field, DOMAIN_MAX)
    for label in value.split("."):
        if not label:
            raise ValidationError("%s %r is not a DNS name: it has an empty label" % (field, value))
        if not _LABEL.fullmatch(label):
            raise ValidationError(
                "%s %r is not a DNS name: label %r may hold only letters, digits and hyphens"
                % (field, value, label)
            )
        if label.startswith("-") or label.endswith("-"):
            raise ValidationError(
                "%s %r is not a DNS name: label %r starts or ends with a hyphen"
                % (field, value, label)
            )
        if len(label) > 63:
            raise ValidationError(
                "%s %r is not a DNS name: label %r is longer than 63 characters"
                % (field, value, label)
            )
    return value.lower()


def is_username(value):
    """Whether check_username accepts value: its whole rule, as a test without a message."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= USERNAME_MAX
        and _USER.fullmatch(value) is not None
        and not value.startswith("-")
    )


def check_username(value, field="username"):
    """Return value if it is an RFC 3261 user part of at most 64 characters that does not start
    with '-' (Kamailio's command line tools would read it as an option)."""
    if is_username(value):
        return value
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty" % field)
    check_plain_text(value, field)
    _fits_column(value, field, USERNAME_MAX)
    if value.startswith("-"):
        raise ValidationError(
            "%s %r starts with '-', which command line tools (kamcmd, kamctl) take for an option"
            % (field, value)
        )
    pos = 0
    while pos < len(value):
        char = value[pos]
        if char == "%":
            if not _ESCAPE.match(value, pos):
                raise ValidationError(
                    "%s %r is not a SIP user part: '%%' at position %d must start an escape"
                    " such as %%40" % (field, value, pos)
                )
            pos += 3
            continue
        if not _USER_CHAR.match(char):
            raise ValidationError(
                "%s %r is not a SIP user part (RFC 3261): character %r is not allowed"
                % (field, value, char)
            )
        pos += 1
    return value


def is_hash(value):
    """Whether check_hash accepts value: its whole rule, as a test without a message."""
    return isinstance(value, str) and _HASH.fullmatch(value) is not None


def check_hash(value, field):
    """Return value if it is 32 lowercase hex digits. The value itself is never echoed."""
    if is_hash(value):
        return value
    if not isinstance(value, str):
        raise ValidationError("%s must be a string, got %s" % (field, type(value).__name__))
    if not _HASH.fullmatch(value):
        raise ValidationError(
            "%s must be 32 lowercase hexadecimal digits (an MD5 digest); the value given"
            " (%d characters) is not" % (field, len(value))
        )
    return value


def is_password(value, store_plaintext=False):
    """Whether check_password accepts value: its whole rule, as a test without a message."""
    limit = PLAINTEXT_MAX if store_plaintext else PASSWORD_MAX
    return isinstance(value, str) and 0 < len(value) <= limit and not _suspect(value)


def check_password(value, field, store_plaintext=False):
    """Return value if it is a usable password. The value itself is never echoed."""
    if is_password(value, store_plaintext):
        return value
    limit = PLAINTEXT_MAX if store_plaintext else PASSWORD_MAX
    if value is None:
        raise ValidationError("%s must not be null (an empty YAML value)" % field)
    if not isinstance(value, str):
        raise ValidationError("%s must be a string, got %s" % (field, type(value).__name__))
    if not value:
        raise ValidationError("%s must not be empty" % field)
    check_plain_text(value, field, secret=True)
    if len(value) > limit:
        raise ValidationError(
            "%s is %d characters long; at most %d are accepted%s"
            % (
                field,
                len(value),
                limit,
                " with store_plaintext (the password column)" if store_plaintext else "",
            )
        )
    return value


def check_pem(value, field, secret=False):
    """PEM text (a certificate or a private key), never a path: tenant data must not make the
    controller read a file of its choice. The value itself is shown only when not secret."""
    if not isinstance(value, str):
        raise ValidationError("%s must be PEM text, got %s" % (field, type(value).__name__))
    text = value.strip()
    if not text.startswith("-----BEGIN ") or "-----END " not in text or not text.endswith("-----"):
        raise ValidationError("%s must be PEM text (-----BEGIN ... -----END ...-----)" % field)
    if len(text) > PEM_MAX:
        raise ValidationError("%s is longer than %d characters" % (field, PEM_MAX))
    if _PEM_BAD.search(text):
        shown = "" if secret else " (position %d)" % _PEM_BAD.search(text).start()
        raise ValidationError("%s holds a character PEM text does not have%s" % (field, shown))
    return text


def check_state(value, field="state"):
    if value not in STATES:
        raise ValidationError("%s must be one of %s, got %r" % (field, ", ".join(STATES), value))
    return value


def check_bool(value, field):
    if not isinstance(value, bool):
        raise ValidationError("%s must be true or false, got %r" % (field, value))
    return value


def check_did(value, field="did"):
    """Return a did (1-64 characters: letters, digits and . _ : @ + ~ -) or None for NULL."""
    if value is None:
        return None
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty; omit it to use the domain itself" % field)
    check_plain_text(value, field)
    _fits_column(value, field, DID_MAX)
    if not _DID.fullmatch(value):
        raise ValidationError(
            "%s %r may hold only letters, digits and . _ : @ + ~ - and must start with a letter"
            " or digit" % (field, value)
        )
    return value


def check_tenant_name(value, field="name"):
    """A tenant's name: 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit."""
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty" % field)
    check_plain_text(value, field)
    if len(value) > TENANT_NAME_MAX:
        raise ValidationError(
            "%s %r is longer than %d characters" % (field, value, TENANT_NAME_MAX)
        )
    if not _TENANT_NAME.fullmatch(value):
        raise ValidationError(
            "%s %r may hold only letters, digits, '.', '_' and '-', starting with a letter or"
            " digit" % (field, value)
        )
    return value


def normalize_attr(name, item, field, reserved=()):
    """(type, text) of one domain attribute as domain_attrs stores it."""
    if not isinstance(name, str) or not name:
        raise ValidationError("%s: attribute name %r must be a non-empty string" % (field, name))
    check_plain_text(name, "%s: attribute name" % field)
    if len(name) > ATTR_NAME_MAX:
        raise ValidationError(
            "%s: attribute name %r is longer than %d characters" % (field, name, ATTR_NAME_MAX)
        )
    if not _ATTR_NAME.fullmatch(name):
        raise ValidationError(
            "%s: attribute name %r may hold only letters, digits, '_', '.' and '-', starting"
            " with a letter or '_'" % (field, name)
        )
    if name in reserved:
        raise ValidationError(
            "%s: attribute name %r is reserved (the collection records the owning tenant in it)"
            % (field, name)
        )
    where = "%s.%s" % (field, name)
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise ValidationError(
            "%s: value %r must be an integer or a string, got %s"
            % (where, item, type(item).__name__)
        )
    if isinstance(item, int):
        if not ATTR_INT_MIN <= item <= ATTR_INT_MAX:
            raise ValidationError(
                "%s: integer %d is outside %d..%d, the range Kamailio's domain module loads"
                % (where, item, ATTR_INT_MIN, ATTR_INT_MAX)
            )
        return (ATTR_TYPE_INT, str(item))
    check_plain_text(item, where)
    if len(item) > ATTR_VALUE_MAX:
        raise ValidationError("%s: value is longer than %d characters" % (where, ATTR_VALUE_MAX))
    return (ATTR_TYPE_STR, item)


def normalize_attrs(value, field="attrs", reserved=()):
    """Turn {name: int or str} into {name: (type, text)} as domain_attrs stores them."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("%s must be a dictionary, got %s" % (field, type(value).__name__))
    return {name: normalize_attr(name, item, field, reserved) for name, item in value.items()}


def attr_value(kind, text):
    """A stored attribute as results and diffs show it: integers (type 0) as ints."""
    if kind == ATTR_TYPE_INT:
        try:
            return int(text)
        except ValueError:
            pass
    return text


def attrs_for_display(attrs):
    """Inverse of normalize_attrs for results and diffs: {name: int or str}."""
    return {name: attr_value(kind, text) for name, (kind, text) in attrs.items()}


class Listing:
    """Where each entry of a list was first listed; a second listing is a ValidationError.

    describe(key) names the entry in that message, name(field) the places (both called only
    then, so that a long list can pass its indexes instead of formatting a name per entry)."""

    def __init__(self, describe, name=str):
        self.describe = describe
        self.name = name
        self.first = {}

    def add(self, key, field):
        if key in self.first:
            raise ValidationError(
                "%s: %s is listed twice (also %s)"
                % (self.name(field), self.describe(key), self.name(self.first[key]))
            )
        self.first[key] = field


# The texts Kamailio's auth_db hashes: ha1 of RFC 2617 (username:realm:password) and ha1b
# (username@domain:domain:password, for digest usernames that carry the domain).
_HA1 = "%s:%s:%s"
_HA1B = "%s@%s:%s:%s"


def _md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - digest auth is MD5


def calc_ha1(username, realm, password):
    """HA1 of RFC 2617: md5(username:realm:password)."""
    return _md5(_HA1 % (username, realm, password))


def calc_ha1b(username, domain, password):
    """Kamailio's ha1b: md5(username@domain:domain:password), used when the digest username
    carries the domain."""
    return _md5(_HA1B % (username, domain, domain, password))


def credential_hashes(username, domain, password):
    """(calc_ha1, calc_ha1b) of an account in one call: bulk callers hash 100,000 of them."""
    md5 = hashlib.md5
    ha1 = _HA1 % (username, domain, password)
    ha1b = _HA1B % (username, domain, domain, password)
    return md5(ha1.encode("utf-8")).hexdigest(), md5(ha1b.encode("utf-8")).hexdigest()
