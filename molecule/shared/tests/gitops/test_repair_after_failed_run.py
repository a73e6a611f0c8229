"""Every run repairs what an earlier, failed run left behind, and removals take effect at once.

The failure is real, not simulated in the code: Kamailio's RPC FIFO is moved away on the target
while a tenants run goes on, so the run writes the database and then fails where it talks to
Kamailio. Moved back, a plain rerun must finish the job: the new tenant's domain loaded (REGISTER
200), the removed user's registration gone (its calls get 404).
"""

import contextlib
import secrets

import pytest
from gitops_support import write_dir
from siphelpers import kamcmd_raw

FIFO = "/run/kamailio/kamailio_rpc.fifo"
FIX = "gx-fix.example"
GONE = "gx-gone.example"


def pw():
    return "gx-pw-" + secrets.token_hex(6)


@pytest.fixture(scope="module")
def passwords():
    return {"ann": pw(), "ben": pw(), "gus": pw()}


def tenant_file(domain, users, passwords, **extra):
    lines = ["domain: %s" % domain, "purge_subscribers: true"]
    lines += ["%s: %s" % item for item in extra.items()]
    lines.append("subscribers:")
    for user in users:
        lines += ["  - username: %s" % user, "    password: %s" % passwords[user]]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def rpc_fifo_moved_away(target):
    target.check_output("mv %s %s.away", FIFO, FIFO)
    try:
        yield
    finally:
        target.check_output("mv %s.away %s", FIFO, FIFO)


def registered(kamcmd, aor):
    """Whether usrloc still reaches `aor`: ul.dump would also list contacts already removed
    but not yet flushed (write-back mode), which ul.lookup leaves out."""
    return bool(kamcmd_raw(kamcmd, "ul.lookup", "location", aor))


def test_a_run_that_failed_after_the_domain_write_is_repaired_by_the_next(
    tenants_playbook, workdir, target, sip, passwords, db
):
    directory = write_dir(
        workdir / "repair-1", {"gx-fix.yml": tenant_file(FIX, ["ann"], passwords)}
    )
    extra = {"kamailio_tenants_dir": str(directory)}
    with rpc_fifo_moved_away(target):
        failed = tenants_playbook(extra, "--diff")
    assert failed.rc != 0, repr(failed)
    assert any("RPC FIFO %s is missing" % FIFO in m for m in failed.failure_messages()), repr(
        failed
    )
    assert FIX in db.domains()  # the write committed; Kamailio never heard of it
    refused = sip.register("ann@" + FIX, passwords["ann"])
    assert refused["codes"] == [403], refused

    rerun = tenants_playbook(extra, "--diff")
    rerun.assert_ok()
    assert "reloaded: domains or dids differ from the database" in rerun.output, repr(rerun)
    result = sip.register("ann@" + FIX, passwords["ann"])
    assert result["codes"] == [401, 200], result

    third = tenants_playbook(extra, "--diff")
    third.assert_ok()
    assert third.recap["changed"] == 0, repr(third)


def test_a_registration_of_a_user_removed_by_a_failed_run_is_dropped_by_the_next(
    tenants_playbook, workdir, target, sip, passwords, kamcmd
):
    both = write_dir(
        workdir / "repair-2a", {"gx-fix.yml": tenant_file(FIX, ["ann", "ben"], passwords)}
    )
    tenants_playbook({"kamailio_tenants_dir": str(both)}).assert_ok()
    assert sip.register("ben@" + FIX, passwords["ben"])["final"] == 200
    assert registered(kamcmd, "ben@" + FIX)

    only_ann = write_dir(
        workdir / "repair-2b", {"gx-fix.yml": tenant_file(FIX, ["ann"], passwords)}
    )
    extra = {"kamailio_tenants_dir": str(only_ann)}
    with rpc_fifo_moved_away(target):
        failed = tenants_playbook(extra)
    assert failed.rc != 0, repr(failed)
    assert registered(kamcmd, "ben@" + FIX)  # removed from the database, still reachable

    rerun = tenants_playbook(extra, "--diff")
    rerun.assert_ok()
    assert not registered(kamcmd, "ben@" + FIX)
    call = sip.call("ann@" + FIX, passwords["ann"], "ben@" + FIX)
    assert call["final"] == 404, call


@pytest.mark.parametrize("how", ["state absent", "purged"])
def test_a_removed_tenant_is_refused_and_unreachable_right_after_the_run(
    how, tenants_playbook, workdir, sip, passwords, kamcmd, kept_tenants
):
    files = {
        "gx-fix.yml": tenant_file(FIX, ["ann"], passwords),
        "gx-gone.yml": tenant_file(GONE, ["gus"], passwords),
    }
    directory = write_dir(workdir / ("removed-%s-1" % how.split()[0]), files)
    tenants_playbook({"kamailio_tenants_dir": str(directory)}).assert_ok()
    assert sip.register("gus@" + GONE, passwords["gus"])["codes"] == [401, 200]
    assert registered(kamcmd, "gus@" + GONE)

    if how == "state absent":
        files["gx-gone.yml"] = "domain: %s\nstate: absent\n" % GONE
        extra = {}
    else:
        del files["gx-gone.yml"]
        # the scenario's own tenants, as they are: the purge may take gx-gone only
        extra = {"kamailio_tenants_purge": True, "kamailio_tenants": kept_tenants}
    directory = write_dir(workdir / ("removed-%s-2" % how.split()[0]), files)
    tenants_playbook({"kamailio_tenants_dir": str(directory), **extra}, "--diff").assert_ok()

    assert not registered(kamcmd, "gus@" + GONE)
    refused = sip.register("gus@" + GONE, passwords["gus"])
    assert refused["codes"] == [403], refused
    call = sip.call("ann@" + FIX, passwords["ann"], "gus@" + GONE)
    assert call["final"] == 403, call  # the domain is not served any more
