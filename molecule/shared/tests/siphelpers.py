"""Small helpers of the verify tests: polling with a deadline, clients run in the background,
Kamailio RPC, root queries on a database host, systemd restart times."""

import re
import threading
import time

import pytest
from sipdata import CALL_RECEIVED, CALL_REFUSED, OK

# Where the verify tests put tests/sip on the client hosts.
CLIENT_TOOLS_DIR = "/opt/sipstack-sip"


def wait_for(check, timeout, interval=1.0, what="condition"):
    """Poll `check()` until it returns a true value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("%s not reached within %s s" % (what, timeout))
        time.sleep(interval)


def kamcmd_raw(kamcmd, *args):
    """kamcmd (the fixture) whose "not found" errors are an answer, not a failure: an empty
    string. usrloc answers "AOR has no contacts" for an AoR whose contacts are all gone."""
    try:
        return kamcmd(*args)
    except AssertionError as exc:
        if re.search(r"not found|doesn't exist|has no contacts", str(exc)):
            return ""
        raise


def main_pid(host):
    """Kamailio's main PID on `host` now (a restart changes it)."""
    return int(host.check_output("systemctl show --property=MainPID --value kamailio.service"))


def in_background(function, *args, **kwargs):
    """Run `function` in a thread; the returned callable joins it and returns its result."""
    box = {}

    def target():
        try:
            box["result"] = function(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's own thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join(timeout=120):
        thread.join(timeout)
        assert not thread.is_alive(), "background client still running after %s s" % timeout
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join


def assert_connected_or_refused(result, allowed):
    """A call the policy allows connects end to end; one it refuses (407, then 403) never
    reaches the callee, which was registered and answering."""
    if allowed:
        assert result["final"] == OK, result
        assert result["uas"]["received"] == CALL_RECEIVED, result
    else:
        assert result["codes"] == CALL_REFUSED, result
        assert result["uas"]["received"] == [], result


def mysql(host, query, database="kamailio"):
    """What one query by root prints on a database host (tab-separated, no header), stripped."""
    return host.check_output("mysql --batch --skip-column-names -e %s %s", query, database).strip()


def restart_window(host, unit):
    """(stopped, started) of the last restart of a systemd unit, in seconds since the epoch (0
    for a unit never stopped)."""
    out = host.check_output(
        "systemctl show --timestamp=unix --property=ActiveExitTimestamp "
        "--property=ActiveEnterTimestamp %s",
        unit,
    )
    stamps = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    keys = ("ActiveExitTimestamp", "ActiveEnterTimestamp")
    return tuple(float(stamps[key].lstrip("@") or 0) for key in keys)
