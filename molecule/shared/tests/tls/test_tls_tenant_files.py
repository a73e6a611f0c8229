"""A tenant's own TLS certificate, given in its tenant file (scenario debian13).

playbooks/tenants.yml reads `tls: {certificate, private_key}` (PEM text, never a path) from the
tenant file and serves it for the tenant's domain (SNI) on every SIP server through tls.reload:
no restart. A rotation is a changed file; a tenant that goes takes its certificate with it. The
certificates are issued here by the scenario's test CA (shared/prepare.yml).
"""

import datetime
import os
import re
import shlex
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playbook import run_playbook
from siphelpers import main_pid

DOMAIN = "tls-tenant.example"
TLS_PORT = 5061
# The collection's tenants playbook itself (imported: its own task files sit next to it), after
# the trusted client's facts the scenario's kamailio_trusted_networks is built from.
TENANTS = """---
- name: Facts of the trusted client
  hosts: sipclients
  gather_facts: true
  tasks: []
- name: The tenants playbook
  ansible.builtin.import_playbook: %s
""" % (Path(__file__).resolve().parents[4] / "playbooks" / "tenants.yml")
KEY_FILE = "/etc/kamailio/tls/sni/%s.key" % DOMAIN


def issue(name):
    """(certificate PEM, key PEM, SHA-256 fingerprint) for `name`, signed by the test CA."""
    tls = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
    ca_cert = x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((tls / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key_pem, cert.fingerprint(hashes.SHA256()).hex().upper()


def tenant_file(directory, cert=None, key=None, state="present"):
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["name: tls-tenant", "domain: %s" % DOMAIN, "state: %s" % state]
    if cert:
        lines.append("tls:")
        for field, pem in (("certificate", cert), ("private_key", key)):
            lines.append("  %s: |" % field)
            lines += ["    " + line for line in pem.strip().splitlines()]
    (directory / "tls-tenant.yml").write_text("\n".join(lines) + "\n")
    return {"kamailio_tenants_dir": str(directory)}


@pytest.fixture(scope="module")
def served(target, proxy_ip):
    def run(server_name):
        connect = "openssl s_client -connect %s:%d -servername %s" % (
            proxy_ip,
            TLS_PORT,
            shlex.quote(server_name),
        )
        out = target.check_output(
            connect + " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        )
        return out.split("=", 1)[1].replace(":", "").strip()

    return run


def wait_for(served, name, fingerprint):
    deadline = time.monotonic() + 20
    while served(name) != fingerprint:
        assert time.monotonic() < deadline, "%s is not served the expected certificate" % name
        time.sleep(1)


def test_a_tenant_file_brings_its_certificate_and_rotates_it_without_restart(
    target, served, tmp_path
):
    pid = main_pid(target)
    platform = served("unknown.example")
    first_cert, first_key, first = issue(DOMAIN)
    rc, output = run_playbook(
        tmp_path / "a", TENANTS, tenant_file(tmp_path / "t", first_cert, first_key)
    )
    assert rc == 0, output
    assert "BEGIN" not in output and first_key.splitlines()[1] not in output
    wait_for(served, DOMAIN, first)
    assert target.check_output("stat -c '%%U:%%G %%a' %s", KEY_FILE) == "root:kamailio 640"

    second_cert, second_key, second = issue(DOMAIN)
    rc, output = run_playbook(
        tmp_path / "b", TENANTS, tenant_file(tmp_path / "t", second_cert, second_key)
    )
    assert rc == 0, output
    assert re.search(r"tls\.reload\)\] \*+\nchanged:", output), output
    wait_for(served, DOMAIN, second)
    assert main_pid(target) == pid

    rc, output = run_playbook(
        tmp_path / "c", TENANTS, tenant_file(tmp_path / "t", second_cert, second_key)
    )
    assert rc == 0, output
    assert re.search(r"changed=0\s", output), output

    rc, output = run_playbook(tmp_path / "d", TENANTS, tenant_file(tmp_path / "t", state="absent"))
    assert rc == 0, output
    wait_for(served, DOMAIN, platform)
    assert target.run("test -e %s", KEY_FILE).rc != 0
    assert main_pid(target) == pid


def test_a_path_instead_of_pem_text_is_refused(target, tmp_path):
    """A tenant file must not make the controller read a file of its choice."""
    directory = tmp_path / "t"
    directory.mkdir()
    (directory / "tls-tenant.yml").write_text(
        "domain: %s\ntls:\n  certificate: /etc/passwd\n  private_key: /etc/shadow\n" % DOMAIN
    )
    rc, output = run_playbook(tmp_path / "p", TENANTS, {"kamailio_tenants_dir": str(directory)})
    assert rc != 0, output
    assert "tls-tenant.yml (tenant tls-tenant): tls.certificate must be PEM text" in output, output
    assert "root:" not in output
