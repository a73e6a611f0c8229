"""Scenario cluster: the MariaDB Galera cluster of three nodes (group kamailio_db).

Every node is synced in a cluster of three and holds the same data. With the first node stopped
(the one every SIP server and the tenant modules prefer): phones still register through both
proxies, and a tenant added by playbooks/tenants.yml registers. A site.yml run then starts the
node into the cluster again: three nodes, and it holds what was written while it was down.
Then a full outage, and the bootstrap the README describes for it.
Runs last in the scenario's verify (file name order): it leaves a tenant and stops every node.
"""

from playbook import REPO, SITE, run_playbook
from sipdata import ALICE_B, CAROL_B, OK, PASSWORD
from siphelpers import mysql, wait_for

FRANK_D = "frank@companyd.example"
PASSWORD_D = {FRANK_D: "frank-D-secret1"}  # test password only
TENANTS_WITH_COMPANYD = """
- name: Apply the tenants with one more
  ansible.builtin.import_playbook: {repo}/playbooks/tenants.yml
  vars:
    kamailio_tenants: >-
      {{{{ molecule_tenants_changed + [{{'name': 'companyd', 'domain': 'companyd.example',
          'state': 'present', 'subscribers': [{{'username': 'frank',
          'password': '{password}'}}]}}] }}}}
""".format(repo=REPO, password=PASSWORD_D[FRANK_D])
# A port per registration of this file, so none refreshes another's contact.
PORTS = iter(range(5091, 5099))


def wsrep(node):
    """{status name: value} of the node's Galera replication."""
    out = mysql(
        node,
        "SHOW GLOBAL STATUS WHERE Variable_name IN "
        "('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_cluster_status')",
    )
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def synced_in_cluster_of(size):
    def check(node):
        status = wsrep(node)
        return (
            status.get("wsrep_cluster_size") == str(size)
            and status.get("wsrep_local_state_comment") == "Synced"
            and status.get("wsrep_cluster_status") == "Primary"
        )

    return check


def registered(node, aor, port):
    """Whether the node's location table holds the contact `aor` registered from `port`."""
    user, domain = aor.split("@", 1)
    query = (
        "SELECT COUNT(*) FROM location WHERE username = '%s' AND domain = '%s'"
        " AND contact LIKE '%%:%d%%'"
    )
    return mysql(node, query % (user, domain, port)) == "1"


def test_three_synced_nodes_hold_the_same_data(database_nodes):
    assert len(database_nodes) == 3
    for node in database_nodes:
        assert synced_in_cluster_of(3)(node), wsrep(node)
    counts = {
        node.backend.host: mysql(node, "SELECT COUNT(*) FROM subscriber") for node in database_nodes
    }
    assert len(set(counts.values())) == 1 and "0" not in counts.values(), counts


def test_first_node_down_then_back_after_site_yml(database_nodes, sips, tmp_path):
    first, *others = database_nodes
    made = []
    first.check_output("systemctl stop mariadb")
    try:
        for other in others:
            wait_for(lambda other=other: synced_in_cluster_of(2)(other), 60, 1, "two nodes")

        # registrations through both proxies: every SIP server moves to the next node
        for aor in (ALICE_B, CAROL_B):
            for sip in sips:
                port = next(PORTS)
                result = sip.register(aor, PASSWORD[aor], expires=3600, port=port)
                assert result["final"] == OK, (aor, sip.proxy, result)
                made.append((aor, port))
        for aor, port in made:
            assert registered(others[0], aor, port), (aor, port)

        # a tenant change: the modules write through the next node, both proxies serve it
        rc, output = run_playbook(tmp_path / "tenants", TENANTS_WITH_COMPANYD)
        assert rc == 0, output[-4000:]
        for sip in sips:
            result = sip.register(FRANK_D, PASSWORD_D[FRANK_D], port=next(PORTS))
            assert result["final"] == OK, (sip.proxy, result)
    finally:
        # site.yml starts the stopped node into the cluster again
        rc, output = run_playbook(tmp_path / "site", SITE, timeout=900)
    assert rc == 0, output[-4000:]
    wait_for(lambda: synced_in_cluster_of(3)(first), 120, 2, "the first node back in sync")
    # it received what was written while it was down
    assert mysql(first, "SELECT COUNT(*) FROM subscriber WHERE domain = 'companyd.example'") == "1"
    for aor, port in made:
        assert registered(first, aor, port), (aor, port)


def mariadb_active(node):
    return node.run("systemctl is-active --quiet mariadb").rc == 0


def test_full_outage_is_refused_until_the_newest_node_is_named(database_nodes, tmp_path):
    """Every node stopped (the last one to stop holds the newest data and says so in its
    grastate.dat): site.yml refuses to guess and starts nothing; named, a node that is not safe
    to bootstrap is refused too; the right one founds the cluster again, the others join."""
    for node in reversed(database_nodes):  # the first node stops last
        node.check_output("systemctl stop mariadb")
    newest, *others = database_nodes
    assert "safe_to_bootstrap: 1" in newest.file("/var/lib/mysql/grastate.dat").content_string
    database_play = ["--tags", "kamailio_mariadb", "--limit", "kamailio_db"]

    rc, output = run_playbook(tmp_path / "guess", SITE, None, 600, database_play)
    assert rc != 0 and "a full outage" in output, output[-3000:]
    assert not any(mariadb_active(node) for node in database_nodes)

    wrong = {"kamailio_mariadb_galera_bootstrap_host": others[-1].backend.host}
    rc, output = run_playbook(tmp_path / "wrong", SITE, wrong, 600, database_play)
    assert rc != 0 and "safe_to_bootstrap: 1" in output, output[-3000:]
    assert not any(mariadb_active(node) for node in database_nodes)

    named = {"kamailio_mariadb_galera_bootstrap_host": newest.backend.host}
    rc, output = run_playbook(tmp_path / "named", SITE, named, 900, database_play)
    assert rc == 0, output[-4000:]
    for node in database_nodes:
        wait_for(lambda node=node: synced_in_cluster_of(3)(node), 120, 2, "three nodes again")
    # nothing was lost: the tenant added while the first node was down is everywhere
    for node in database_nodes:
        query = "SELECT COUNT(*) FROM subscriber WHERE domain = 'companyd.example'"
        assert mysql(node, query) == "1", node.backend.host
