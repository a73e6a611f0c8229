"""SIP over TLS is refused on Kamailio before 5.8 (Debian 12), with nothing changed.

Debian 12's Kamailio 5.6.3 with OpenSSL 3 crashes under TLS load (upstream issue 3791; here a
child died of a double free within seconds of failed handshakes). The role refuses TLS there in
preflight, before it installs or writes anything. On newer releases the scenario runs TLS
itself (tests/tls), so this test only applies below 5.8.
"""

import os

import pytest
from playbook import run_playbook

PLAY = """---
- name: Facts of the trusted client (the inventory's kamailio_trusted_networks needs them)
  hosts: sipclients
  gather_facts: true
  tasks: []

- name: The kamailio role with a platform certificate
  hosts: kamailio
  # the tests connect as root, and the target has no sudo (as a minimal server has none)
  become: false
  roles:
    - role: sipstack.kamailio.kamailio
"""


def _release():
    return tuple(int(p) for p in os.environ.get("SIPSTACK_EXPECT_KAMAILIO", "0.0").split("."))


@pytest.mark.skipif(_release() >= (5, 8), reason="TLS is supported and tested (tests/tls)")
def test_tls_refused_before_anything_changes(target, tmp_path):
    def state():
        return (
            target.check_output("sha256sum /etc/kamailio/kamailio.cfg /etc/kamailio/my.cnf"),
            target.check_output("systemctl show --property=MainPID --value kamailio.service"),
            target.package("kamailio-tls-modules").is_installed,
            target.file("/etc/kamailio/tls").exists,
        )

    before = state()
    rc, output = run_playbook(
        tmp_path,
        PLAY,
        {
            # Never read: the refusal comes first.
            "kamailio_tls_certificate": "/nonexistent/platform.crt",
            "kamailio_tls_private_key": "/nonexistent/platform.key",
        },
    )
    assert rc != 0, output
    assert "needs Kamailio 5.8 or newer" in output, output
    assert "upstream issue 3791" in output and "Nothing was changed" in output, output
    assert state() == before
    assert not before[2], "kamailio-tls-modules is installed"
