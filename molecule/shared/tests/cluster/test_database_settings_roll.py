"""Scenario cluster: a database setting changed by site.yml rolls through the Galera nodes.

The database play of site.yml (its tag) with one more server setting: every node restarts with
it, never two at a time (each stops only once the one before is back), the cluster keeps three
nodes afterwards, and a phone registering all the while through a proxy never fails.
"""

import itertools
import threading
import time

from playbook import SITE, run_playbook
from sipdata import BOB_B, OK, PASSWORD
from siphelpers import mysql, restart_window

LOOP_PORT = 5078


def test_setting_rolls_through_the_nodes_one_at_a_time(database_nodes, sips, tmp_path):
    before = [restart_window(node, "mariadb.service") for node in database_nodes]
    # a value the nodes do not have yet, so that the run changes the settings file
    wanted = int(mysql(database_nodes[0], "SELECT @@max_connections")) + 1
    setting = {"kamailio_mariadb_server_settings": {"max_connections": wanted}}
    attempts, done = [], threading.Event()

    def keep_registering():
        while not done.is_set():
            for sip in sips:
                try:
                    final = sip.register(BOB_B, PASSWORD[BOB_B], port=LOOP_PORT).get("final")
                except AssertionError as exc:  # the client itself failed: counted as a failure
                    final = "client error: %s" % exc
                attempts.append((sip.proxy, time.time(), final))

    loop = threading.Thread(target=keep_registering, daemon=True)
    loop.start()
    try:
        # the database play only (its tag, its hosts)
        rc, output = run_playbook(
            tmp_path, SITE, setting, 900, ["--tags", "kamailio_mariadb", "--limit", "kamailio_db"]
        )
    finally:
        done.set()
        loop.join(120)
    assert rc == 0, output[-4000:]

    windows = [restart_window(node, "mariadb.service") for node in database_nodes]
    for node, old, new in zip(database_nodes, before, windows, strict=True):
        assert new[1] > old[1], (node.backend.host, old, new)  # restarted
        assert mysql(node, "SELECT @@max_connections") == str(wanted), node.backend.host
        assert mysql(node, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'").split() == [
            "wsrep_cluster_size",
            "3",
        ]
    # one at a time, in order: a node stopped only after the one before was running again
    starts = sorted(windows, key=lambda window: window[0])
    for earlier, later in itertools.pairwise(starts):
        assert earlier[1] <= later[0], windows

    failed = [attempt for attempt in attempts if attempt[2] != OK]
    assert len(attempts) >= 10, attempts
    assert not failed, (failed, windows)
    # registrations went on while the first node (every proxy's first choice) was down
    stopped, started = windows[0]
    assert [a for a in attempts if stopped <= a[1] <= started + 2], (windows[0], attempts)
