# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure validators and digest hashing for Kamailio tenant data.

Nothing here touches a database or Ansible: every function takes plain values and either returns
the normalised value or raises ValidationError with a message that names the field and the bad
value. Secrets (passwords, hashes) are never put into a message.
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

# domain_attrs.type values understood by Kamailio's domain module.
ATTR_TYPE_INT = 0
ATTR_TYPE_STR = 2

STATES = ("present", "absent")

_LABEL = re.compile(r"^[A-Za-z0-9-]+$")
_HASH = re.compile(r"^[0-9a-f]{32}$")
# RFC 3261 user part: unreserved / escaped / user-unreserved.
_USER_CHAR = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+\Z")


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


def normalize_domain(value, field="domain"):
    """Return a DNS name lowercased, or raise ValidationError.

    Labels hold letters, digits and hyphens, do not start or end with a hyphen, are 1-63
    characters long; the whole name fits the 64-character column.
    """
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty" % field)
    _fits_column(value, field, DOMAIN_MAX)
    for label in value.split("."):
        if not label:
            raise ValidationError("%s %r is not a DNS name: it has an empty label" % (field, value))
        if not _LABEL.match(label):
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


def check_username(value, field="username"):
    """Return value if it is an RFC 3261 user part of at most 64 characters."""
    if isinstance(value, str) and len(value) <= USERNAME_MAX and _USER.match(value):
        return value
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty" % field)
    _fits_column(value, field, USERNAME_MAX)
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


def check_hash(value, field):
    """Return value if it is 32 lowercase hex digits. The value itself is never echoed."""
    if not isinstance(value, str):
        raise ValidationError("%s must be a string, got %s" % (field, type(value).__name__))
    if not _HASH.match(value):
        raise ValidationError(
            "%s must be 32 lowercase hexadecimal digits (an MD5 digest); the value given"
            " (%d characters) is not" % (field, len(value))
        )
    return value


def check_password(value, field, store_plaintext=False):
    """Return value if it is a usable password. The value itself is never echoed."""
    if not isinstance(value, str):
        raise ValidationError("%s must be a string, got %s" % (field, type(value).__name__))
    if not value:
        raise ValidationError("%s must not be empty" % field)
    if store_plaintext and len(value) > PLAINTEXT_MAX:
        raise ValidationError(
            "%s is %d characters long; with store_plaintext at most %d fit the password column"
            % (field, len(value), PLAINTEXT_MAX)
        )
    return value


def check_state(value, field="state"):
    if value not in STATES:
        raise ValidationError("%s must be one of %s, got %r" % (field, ", ".join(STATES), value))
    return value


def check_did(value, field="did"):
    """Return a did (an opaque string of 1-64 characters) or None for NULL."""
    if value is None:
        return None
    _text(value, field)
    if not value:
        raise ValidationError("%s must not be empty; omit it to use the domain itself" % field)
    _fits_column(value, field, DID_MAX)
    return value


def normalize_attrs(value, field="attrs"):
    """Turn {name: int or str} into {name: (type, text)} as domain_attrs stores them."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("%s must be a dictionary, got %s" % (field, type(value).__name__))
    result = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise ValidationError(
                "%s: attribute name %r must be a non-empty string" % (field, name)
            )
        if len(name) > ATTR_NAME_MAX:
            raise ValidationError(
                "%s: attribute name %r is longer than %d characters" % (field, name, ATTR_NAME_MAX)
            )
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ValidationError(
                "%s.%s: value %r must be an integer or a string, got %s"
                % (field, name, item, type(item).__name__)
            )
        if isinstance(item, int):
            result[name] = (ATTR_TYPE_INT, str(item))
        else:
            result[name] = (ATTR_TYPE_STR, item)
        if len(result[name][1]) > ATTR_VALUE_MAX:
            raise ValidationError(
                "%s.%s: value is longer than %d characters" % (field, name, ATTR_VALUE_MAX)
            )
    return result


def attrs_for_display(attrs):
    """Inverse of normalize_attrs for results and diffs: {name: int or str}."""
    shown = {}
    for name, (kind, text) in attrs.items():
        if kind == ATTR_TYPE_INT:
            try:
                shown[name] = int(text)
                continue
            except ValueError:
                pass
        shown[name] = text
    return shown


def _md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - digest auth is MD5


def calc_ha1(username, realm, password):
    """HA1 of RFC 2617: md5(username:realm:password)."""
    return _md5("%s:%s:%s" % (username, realm, password))


def calc_ha1b(username, domain, password):
    """Kamailio's ha1b: md5(username@domain:domain:password), used when the digest username
    carries the domain."""
    return _md5("%s@%s:%s:%s" % (username, domain, domain, password))
