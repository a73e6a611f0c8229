"""Scenario cluster: a tenant added by playbooks/tenants.yml alone registers through every SIP
server at once: the reconcile step reloads each proxy's domain cache, nothing restarts."""

from playbook import REPO, run_playbook
from sipdata import DAVE_C, OK, PASSWORD_AFTER_CHANGE
from siphelpers import main_pid

DOMAIN_NOT_SERVED = 403

# The scenarios' tenants step: companyc added (molecule_tenants_changed, group_vars/all).
TENANTS_CHANGE = (
    """
- name: Apply the changed tenants
  ansible.builtin.import_playbook: %s/playbooks/tenants.yml
  vars:
    kamailio_tenants: "{{ molecule_tenants_changed }}"
"""
    % REPO
)


def test_new_tenant_registers_through_every_proxy_without_restart(proxies, sips, tmp_path):
    pids = [main_pid(proxy) for proxy in proxies]
    for sip in sips:
        before = sip.register(DAVE_C, PASSWORD_AFTER_CHANGE[DAVE_C])
        assert before["final"] == DOMAIN_NOT_SERVED, before
    rc, output = run_playbook(tmp_path, TENANTS_CHANGE)
    assert rc == 0, output[-4000:]
    for sip in sips:
        after = sip.register(DAVE_C, PASSWORD_AFTER_CHANGE[DAVE_C])
        assert after["final"] == OK, after
    assert [main_pid(proxy) for proxy in proxies] == pids
