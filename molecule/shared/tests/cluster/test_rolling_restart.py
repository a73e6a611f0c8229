"""Scenario cluster: a rolling site.yml run (serial; --tags kamailio_server) that changes
kamailio.cfg.

While it runs, a phone keeps registering through each proxy in turn. Both proxies restart (new
main PIDs), never at the same time, and every registration through the proxy that is not
restarting at that moment succeeds. Registrations made before the run are all still there.
"""

import threading
import time

from playbook import SITE, run_playbook
from sipdata import ALICE_B, BOB_B, CAROL_B, OK, PASSWORD
from siphelpers import main_pid, restart_window

# A port of its own: every REGISTER of the loop refreshes one contact (max_contacts).
LOOP_PORT = 5077
# Seconds around a proxy's own restart in which its registrations may fail: the stop, the start
# and systemd noting it.
MARGIN = 2.0


def test_rolling_restart_keeps_one_proxy_answering(proxies, sips, tmp_path):
    kept = {ALICE_B: sips[0], CAROL_B: sips[1]}
    for aor, sip in kept.items():
        assert sip.register(aor, PASSWORD[aor], expires=3600)["final"] == OK
    pids = [main_pid(proxy) for proxy in proxies]

    attempts, done = [], threading.Event()

    def keep_registering():
        while not done.is_set():
            for index, sip in enumerate(sips):
                started = time.time()
                try:
                    final = sip.register(BOB_B, PASSWORD[BOB_B], port=LOOP_PORT).get("final")
                except AssertionError as exc:  # the client itself failed: counted as a failure
                    final = "client error: %s" % exc
                attempts.append((index, started, time.time(), final))

    loop = threading.Thread(target=keep_registering, daemon=True)
    loop.start()
    try:
        # the SIP servers' play of site.yml only (its tag): the database and the tenants have
        # nothing to do here, and the scenario's converge runs the whole of it twice
        rc, output = run_playbook(
            tmp_path, SITE, {"kamailio_log_level": 2}, 900, ["--tags", "kamailio_server"]
        )
    finally:
        done.set()
        loop.join(120)
    assert rc == 0, output[-4000:]

    new_pids = [main_pid(proxy) for proxy in proxies]
    assert all(new != old for new, old in zip(new_pids, pids, strict=True)), (pids, new_pids)
    windows = [restart_window(proxy, "kamailio.service") for proxy in proxies]
    # one at a time: the second stopped only after the first was back
    assert windows[0][1] <= windows[1][0], windows

    def restarting(index, started, ended):
        stopped, back = windows[index]
        return started <= back + MARGIN and ended >= stopped - MARGIN

    live = [a for a in attempts if not restarting(*a[:3])]
    failed = [a for a in live if a[3] != OK]
    assert len(live) >= 10, attempts
    assert not failed, (failed, windows)
    # each proxy's restart was covered by registrations through the other one
    for index, (stopped, back) in enumerate(windows):
        other = [a for a in live if a[0] != index and a[2] >= stopped and a[1] <= back + MARGIN]
        assert other, (index, windows, attempts)

    for aor in kept:
        for proxy in proxies:
            found = proxy.check_output("kamcmd ul.lookup location %s", aor)
            assert not found.lstrip().startswith("error") and "Contact" in found, (aor, found)
