"""SIP over TLS (scenario debian13, Kamailio 6.0): certificates by server name, TLS 1.2 and
newer only, digest registration and a call over TLS, a bounded load of failing handshakes next
to real registrations, and a certificate rotation applied with tls.reload, no restart.

The certificates come from prepare.yml (a test CA, leaves for the platform, acme.example,
globex.example and a second acme.example for the rotation) in molecule's ephemeral directory.
TLS clients: openssl s_client on the target, tests/sip/siptls.py on the client host. The
rotation test changes acme's certificate: it runs last.
"""

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from playbook import run_playbook
from sipdata import ALICE_B, BAD_CREDENTIALS, BOB_B, CAROL_B, OK, PASSWORD
from siphelpers import main_pid

TLS_PORT = 5061
CLIENT_TOOLS_DIR = "/opt/sipstack-sip"  # where conftest's `sip` fixture puts tests/sip
CLIENT_CA = CLIENT_TOOLS_DIR + "/test-ca.crt"
LOAD_SECONDS = 15  # bounded: stops by itself; long enough for 5.6.3 to crash (it did in 8 s)
TLS_DIR = "/etc/kamailio/tls"

ROTATE = """---
- name: Facts of the trusted client (the inventory's kamailio_trusted_networks needs them)
  hosts: sipclients
  gather_facts: true
  tasks: []

- name: Apply the SNI certificates alone (as a tenant pipeline would)
  hosts: kamailio
  # the tests connect as root, and the target has no sudo (as a minimal server has none)
  become: false
  gather_facts: false
  tasks:
    - name: Install the certificates and reload them
      ansible.builtin.include_role:
        name: sipstack.kamailio.kamailio
        tasks_from: tls_certificates
"""
RELOAD_TASK = "TLS | Load the changed certificates without a restart (tls.reload)"


def cert_dir():
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"


def fingerprint(name):
    """SHA-256 fingerprint of a test certificate on the controller, as openssl prints it."""
    cert = x509.load_pem_x509_certificate((cert_dir() / (name + ".crt")).read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def sni_certs(acme="acme"):
    return [
        {
            "server_name": "acme.example",
            "certificate": str(cert_dir() / (acme + ".crt")),
            "private_key": str(cert_dir() / (acme + ".key")),
        },
        {
            "server_name": "globex.example",
            "certificate": str(cert_dir() / "globex.crt"),
            "private_key": str(cert_dir() / "globex.key"),
        },
    ]


@pytest.fixture(scope="module")
def served(target, proxy_ip):
    """served(server_name or None, *openssl options): fingerprint of the certificate served."""

    def run(server_name, *options):
        sni = ["-servername", server_name] if server_name else ["-noservername"]
        connect = ["openssl", "s_client", "-connect", "%s:%d" % (proxy_ip, TLS_PORT)]
        cmd = " ".join(shlex.quote(a) for a in connect + sni + list(options))
        result = target.run(
            cmd + " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        )
        if result.rc != 0:
            return None
        return result.stdout.strip().split("=", 1)[1].replace(":", "")

    return run


@pytest.fixture(scope="module")
def tls(sip, client, proxy_ip):
    """siptls.py on the client host, verifying the server against the test CA."""
    pem = (cert_dir() / "ca.crt").read_text()
    client.check_output("printf '%%s' %s > %s", pem, CLIENT_CA)

    def run(*args):
        base = ["timeout", "120", "python3", CLIENT_TOOLS_DIR + "/siptls.py", args[0]]
        base += ["--proxy", proxy_ip, "--port", str(TLS_PORT), "--ca", CLIENT_CA]
        result = client.run(" ".join(shlex.quote(str(a)) for a in base + list(args[1:])))
        assert result.rc == 0, "siptls failed (rc %s): %s %s" % (
            result.rc,
            result.stdout,
            result.stderr,
        )
        return json.loads(result.stdout)

    return run


def test_kamailio_listens_for_sip_over_tls(target, proxy_ip):
    assert target.socket("tcp://%s:%d" % (proxy_ip, TLS_PORT)).is_listening


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("acme.example", "acme"),
        ("globex.example", "globex"),
        ("unknown.example", "platform"),
        (None, "platform"),
    ],
)
def test_certificate_chosen_by_server_name(served, server_name, expected):
    assert served(server_name) == fingerprint(expected)


def test_only_tls_1_2_and_newer(target, served):
    assert served("acme.example", "-tls1_2") == fingerprint("acme")
    assert served("acme.example", "-tls1_3") == fingerprint("acme")
    assert served("acme.example", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0") is None
    profiles = target.file("/etc/kamailio/kamailio-tls.cfg").content_string
    sections = re.findall(r"^\[(server|client):[^\]]+\]", profiles, re.M)
    methods = re.findall(r"^method = (\S+)$", profiles, re.M)
    assert len(sections) == 4 and methods == ["TLSv1.2+"] * 4, profiles


@pytest.mark.parametrize("path", ["platform.key", "sni/acme.example.key", "sni/globex.example.key"])
def test_private_keys_are_root_kamailio_0640(target, path):
    f = target.file("%s/%s" % (TLS_DIR, path))
    assert (f.user, f.group, f.mode) == ("root", "kamailio", 0o640)


def test_tls_register_with_digest_auth(tls):
    user, domain = ALICE_B.split("@")
    result = tls("register", "--user", user, "--domain", domain, "--password", PASSWORD[ALICE_B])
    assert result["codes"] == [401, OK], result
    assert result["tls_version"] in ("TLSv1.2", "TLSv1.3"), result
    # the registrar bound the TLS contact (usrloc drops it when the client closes the
    # connection: handle_lost_tcp, so it is read from the 200, not from usrloc afterwards)
    assert result["contact"].strip("<>") in result["bound"], result
    assert "transport=tls" in result["contact"], result


def test_tls_register_with_a_wrong_password_refused(tls):
    user, domain = ALICE_B.split("@")
    result = tls("register", "--user", user, "--domain", domain, "--password", PASSWORD[BOB_B])
    assert result["codes"] == [401, BAD_CREDENTIALS], result


def test_call_between_two_tls_registered_users(tls):
    result = tls(
        "call",
        "--caller",
        ALICE_B,
        "--password",
        PASSWORD[ALICE_B],
        "--callee",
        BOB_B,
        "--callee-password",
        PASSWORD[BOB_B],
    )
    assert result["callee_register"]["final"] == OK, result
    assert result["caller_register"]["final"] == OK, result
    assert result["codes"][0] == 407 and result["final"] == OK, result
    assert result["bye"] == OK, result
    assert result["callee"]["received"] == ["INVITE", "ACK", "BYE"], result


def test_kamailio_holds_under_tls_load(target, tls, attacker, proxy_ip):
    """Failing handshakes (garbage, TLS 1.0/1.1, half handshakes, rejected certificates) from an
    untrusted host next to real registrations from the client: no child dies, no memory BUG,
    every registration succeeds. Two hosts, as on the Internet: each stays within the
    per-address TCP connection limit (kamailio_tcp_max_connections_per_ip)."""
    pid = main_pid(target)
    since = target.check_output("date '+%Y-%m-%d %H:%M:%S'")
    user, domain = CAROL_B.split("@")
    bad = ["docker", "exec", attacker.container, "timeout", "120", "python3"]
    bad += [CLIENT_TOOLS_DIR + "/siptls.py", "load", "--proxy", proxy_ip, "--port", str(TLS_PORT)]
    bad += ["--seconds", str(LOAD_SECONDS), "--user", "nobody", "--domain", domain]
    bad += ["--password", "x", "--good-threads", "0", "--bad-threads", "4"]
    with subprocess.Popen(bad, stdout=subprocess.PIPE, text=True) as failing:
        good = tls(
            "load",
            "--user",
            user,
            "--domain",
            domain,
            "--password",
            PASSWORD[CAROL_B],
            "--seconds",
            LOAD_SECONDS,
            "--bad-threads",
            "0",
        )
        bad_load = json.loads(failing.communicate(timeout=150)[0])
    assert good["good"]["failed"] == 0, good
    assert good["good"]["ok"] >= 10 and bad_load["bad"]["attempts"] >= 50, (good, bad_load)
    assert main_pid(target) == pid
    log = target.check_output("journalctl -u kamailio --no-pager --since %s", since)
    assert not re.search(r"BUG:|exited by a signal|core was generated", log), log[-3000:]


def test_invalid_certificate_refused_before_anything_changes(target, tmp_path):
    before = target.check_output("sha256sum %s/sni/* /etc/kamailio/kamailio-tls.cfg", TLS_DIR)
    certs = sni_certs()
    certs[0]["private_key"] = certs[1]["private_key"]  # globex's key for acme's certificate
    rc, output = run_playbook(tmp_path, ROTATE, {"kamailio_tls_sni_certificates": certs})
    assert rc != 0, output
    assert "acme.example): the private key does not belong to the certificate" in output, output
    assert "BEGIN" not in output  # no key (nor certificate) in the output
    after = target.check_output("sha256sum %s/sni/* /etc/kamailio/kamailio-tls.cfg", TLS_DIR)
    assert after == before


def test_rotated_certificate_served_without_restart(target, served, tmp_path):
    pid = main_pid(target)
    assert served("acme.example") == fingerprint("acme")
    rc, output = run_playbook(
        tmp_path / "rotate", ROTATE, {"kamailio_tls_sni_certificates": sni_certs("acme-rotated")}
    )
    assert rc == 0, output
    assert re.search(re.escape(RELOAD_TASK) + r"\] \*+\nchanged:", output), output
    deadline = time.monotonic() + 20
    while served("acme.example") != fingerprint("acme-rotated"):
        assert time.monotonic() < deadline, "acme.example still gets the old certificate"
        time.sleep(1)
    assert served("globex.example") == fingerprint("globex")
    assert served("unknown.example") == fingerprint("platform")
    assert main_pid(target) == pid
    # The same certificates again: nothing changes, nothing is reloaded.
    rc, output = run_playbook(
        tmp_path / "again", ROTATE, {"kamailio_tls_sni_certificates": sni_certs("acme-rotated")}
    )
    assert rc == 0, output
    assert re.search(r"changed=0\s", output), output
