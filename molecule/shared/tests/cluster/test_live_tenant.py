"""Scenario cluster: a tenant added by playbooks/tenants.yml alone registers through every SIP
server at once: the reconcile step reloads each proxy's domain cache, nothing restarts. A user
the same run removes loses his registration, which only the shared table held."""

from playbook import REPO, run_playbook
from sipdata import BOB_A, DAVE_C, OK, PASSWORD, PASSWORD_AFTER_CHANGE
from siphelpers import main_pid, mysql

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


def registrations(database, aor):
    user, domain = aor.split("@", 1)
    query = "SELECT COUNT(*) FROM location WHERE username = '%s' AND domain = '%s'"
    return int(mysql(database, query % (user, domain)))


def test_new_tenant_registers_through_every_proxy_without_restart(
    proxies, sips, database, tmp_path
):
    pids = [main_pid(proxy) for proxy in proxies]
    for sip in sips:
        before = sip.register(DAVE_C, PASSWORD_AFTER_CHANGE[DAVE_C])
        assert before["final"] == DOMAIN_NOT_SERVED, before
    # bob@companya, whom the change removes, is registered (database-only: in table location)
    assert sips[1].register(BOB_A, PASSWORD[BOB_A], expires=3600)["final"] == OK
    assert registrations(database, BOB_A) >= 1
    rc, output = run_playbook(tmp_path, TENANTS_CHANGE)
    assert rc == 0, output[-4000:]
    for sip in sips:
        after = sip.register(DAVE_C, PASSWORD_AFTER_CHANGE[DAVE_C])
        assert after["final"] == OK, after
    assert [main_pid(proxy) for proxy in proxies] == pids
    # the reconcile step found his registration in the shared table and removed it
    assert registrations(database, BOB_A) == 0
    for proxy in proxies:
        found = proxy.run("kamcmd ul.lookup location %s", BOB_A)
        assert "Contact" not in found.stdout, found.stdout
