# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of TLS certificates and private keys before a role writes them.

The kamailio role checks every certificate it is about to install with this filter on the
controller, so that a bad entry stops the run before anything is written, with a message that
names the entry and never the key.
"""

import datetime

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - ansible-core itself depends on cryptography
    x509 = None

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def _leaf(pem):
    """The first certificate of a PEM chain, or None."""
    if PEM_CERTIFICATE not in pem:
        return None
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None


def _private_key(pem):
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        # TypeError: the key is encrypted (Kamailio could not read it either).
        return None


def _public_bytes(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _dns_names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.value.get_values_for_type(x509.DNSName)]


def name_covered(server_name, dns_names):
    """True when a certificate for dns_names is valid for server_name (one-label wildcards)."""
    server_name = server_name.lower().rstrip(".")
    for name in dns_names:
        if name == server_name:
            return True
        if (
            name.startswith("*.")
            and "." in server_name
            and server_name.split(".", 1)[1] == name[2:]
        ):
            return True
    return False


def _not_after(cert):
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def entry_problems(entry, now=None):
    """Problems of one entry: dict with name, certificate, private_key (PEM text) and an
    optional server_name the certificate must be valid for."""
    name = entry.get("name", "certificate")
    cert_pem = entry.get("certificate") or ""
    key_pem = entry.get("private_key") or ""
    problems = []
    cert = _leaf(str(cert_pem))
    if cert is None:
        problems.append("%s: the certificate is not a PEM X.509 certificate" % name)
    key = _private_key(str(key_pem))
    if key is None:
        problems.append("%s: the private key is not an unencrypted PEM private key" % name)
    if cert is None:
        return problems
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if _not_after(cert) <= now:
        problems.append(
            "%s: the certificate expired on %s" % (name, _not_after(cert).strftime("%Y-%m-%d"))
        )
    if key is not None and _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        problems.append("%s: the private key does not belong to the certificate" % name)
    server_name = entry.get("server_name") or ""
    if server_name and not name_covered(server_name, _dns_names(cert)):
        problems.append(
            "%s: the certificate is not valid for %s (its names: %s)"
            % (name, server_name, ", ".join(_dns_names(cert)) or "none")
        )
    return problems


def tls_certificate_problems(entries):
    """Every problem of a list of certificate entries, as messages that hold no key."""
    if x509 is None:
        raise AnsibleFilterError(
            "tls_certificate_problems needs the Python library cryptography on the controller"
        )
    if not isinstance(entries, list):
        raise AnsibleFilterError("tls_certificate_problems expects a list of entries")
    problems = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise AnsibleFilterError("tls_certificate_problems expects dictionaries")
        problems.extend(entry_problems(entry))
    return problems


class FilterModule:
    def filters(self):
        return {"tls_certificate_problems": tls_certificate_problems}
