"""After the tenants step (playbooks/tenants.yml only): live at once, without a restart."""

import os
from pathlib import Path

import pytest
from sipdata import (
    ALICE_A,
    ALICE_B,
    BAD_CREDENTIALS,
    BOB_A,
    DAVE_C,
    OK,
    PASSWORD,
    PASSWORD_AFTER_CHANGE,
    USER_AGENTS,
)
from siphelpers import assert_connected_or_refused


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_new_tenant_registers_at_once(sip, ua):
    result = sip.register(DAVE_C, PASSWORD_AFTER_CHANGE[DAVE_C], client=ua)
    assert result["final"] == OK, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_removed_user_refused(sip, ua):
    result = sip.register(BOB_A, PASSWORD[BOB_A], client=ua)
    assert result["codes"] == [401, BAD_CREDENTIALS], result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_old_password_refused(sip, ua):
    result = sip.register(ALICE_A, PASSWORD[ALICE_A], client=ua)
    assert result["codes"] == [401, BAD_CREDENTIALS], result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_new_password_accepted(sip, ua):
    result = sip.register(ALICE_A, PASSWORD_AFTER_CHANGE[ALICE_A], client=ua)
    assert result["final"] == OK, result


def test_untouched_tenant_still_registers(sip):
    result = sip.register(ALICE_B, PASSWORD[ALICE_B])
    assert result["final"] == OK, result


def test_new_tenant_aor_in_usrloc(sip, kamcmd):
    assert sip.register(DAVE_C, PASSWORD_AFTER_CHANGE[DAVE_C])["final"] == OK
    assert "AoR: %s" % DAVE_C in kamcmd("ul.dump")


def test_new_tenant_gets_the_tenant_boundary(sip, settings):
    """dave@companyc calls into companya: the new tenant gets the same boundary as the others
    (refused unless kamailio_allow_cross_tenant_calls)."""
    result = sip.call(
        DAVE_C,
        PASSWORD_AFTER_CHANGE[DAVE_C],
        ALICE_A,
        callee_password=PASSWORD_AFTER_CHANGE[ALICE_A],
    )
    assert result["callee_register"]["final"] == OK, result
    assert_connected_or_refused(result, settings["kamailio_allow_cross_tenant_calls"])


def test_no_subscriber_row_has_a_plaintext_password(sql):
    rows = sql(
        "SELECT username, domain FROM subscriber WHERE password IS NOT NULL AND password <> ''"
    )
    assert rows == []
    assert sql("SELECT COUNT(*) FROM subscriber WHERE domain = 'companyc.example'") == [["1"]]


def test_kamailio_main_pid_unchanged(target):
    recorded = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / (
        "kamailio-mainpid-" + target.backend.host
    )
    assert recorded.exists(), "the tenants step did not record the PID before the change"
    before = int(recorded.read_text())
    now = int(target.check_output("systemctl show --property=MainPID --value kamailio.service"))
    assert before != 0
    assert now == before, "kamailio was restarted by the tenants change (%d -> %d)" % (before, now)
    assert target.service("kamailio").is_running
