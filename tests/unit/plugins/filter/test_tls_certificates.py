"""The tls_certificate_problems filter: real certificates made here with cryptography."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.sipstack.kamailio.plugins.filter.tls_certificates import (
    FilterModule,
    name_covered,
    tls_certificate_problems,
)

NOW = datetime.datetime.now(datetime.timezone.utc)


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key, password=None):
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def cert_pem(key, names, not_after=None, issuer_key=None):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "x")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=2))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=30))
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def entry(name="acme", server_name="acme.example", names=None, **overrides):
    key = make_key()
    data = {
        "name": name,
        "server_name": server_name,
        "certificate": cert_pem(key, names if names is not None else [server_name or "p"]),
        "private_key": key_pem(key),
    }
    data.update(overrides)
    return data


def test_a_good_pair_has_no_problem():
    assert tls_certificate_problems([entry(), entry("platform", server_name="")]) == []


def test_a_chain_is_checked_by_its_first_certificate():
    good = entry()
    other = make_key()
    good["certificate"] += cert_pem(other, ["ca.example"])
    assert tls_certificate_problems([good]) == []


def test_a_key_of_another_certificate_is_named():
    bad = entry(private_key=key_pem(make_key()))
    assert tls_certificate_problems([bad]) == [
        "acme: the private key does not belong to the certificate"
    ]


def test_an_expired_certificate_is_named():
    key = make_key()
    old = entry(
        certificate=cert_pem(key, ["acme.example"], not_after=NOW - datetime.timedelta(days=1)),
        private_key=key_pem(key),
    )
    (problem,) = tls_certificate_problems([old])
    assert problem.startswith("acme: the certificate expired on ")


def test_a_certificate_for_another_name_is_named():
    wrong = entry(names=["globex.example"])
    assert tls_certificate_problems([wrong]) == [
        "acme: the certificate is not valid for acme.example (its names: globex.example)"
    ]


def test_garbage_and_encrypted_keys_are_named_without_their_content():
    not_a_key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    problems = tls_certificate_problems(
        [
            entry(certificate="not a certificate"),
            entry("enc", private_key=key_pem(make_key(), b"pass")),
            entry("junk", private_key=not_a_key),
        ]
    )
    assert problems[0] == "acme: the certificate is not a PEM X.509 certificate"
    assert "enc: the private key is not an unencrypted PEM private key" in problems
    assert "junk: the private key is not an unencrypted PEM private key" in problems
    assert not any("c2VjcmV0" in p for p in problems)


@pytest.mark.parametrize(
    ("server_name", "names", "covered"),
    [
        ("acme.example", ["acme.example"], True),
        ("ACME.example.", ["acme.example"], True),
        ("sip.acme.example", ["*.acme.example"], True),
        ("a.b.acme.example", ["*.acme.example"], False),
        ("acme.example", ["*.acme.example"], False),
        ("acme.example", [], False),
    ],
)
def test_name_covered(server_name, names, covered):
    assert name_covered(server_name, names) is covered


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        tls_certificate_problems({"name": "x"})
    with pytest.raises(AnsibleFilterError):
        tls_certificate_problems(["x"])


def test_the_filter_is_registered():
    assert FilterModule().filters()["tls_certificate_problems"] is tls_certificate_problems
