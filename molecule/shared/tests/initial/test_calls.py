"""Calls after converge: sipp UAC -> Kamailio -> sipp UAS, end to end on the client host.

Each refused call has a registered, answering callee (or a listener where the proxy would
relay): only the proxy's policy stands between them, and the callee must receive nothing.
"""

from sipdata import (
    ALICE_A,
    BOB_A,
    BOB_B,
    CALL_RECEIVED,
    CALL_REFUSED,
    FORBIDDEN,
    OK,
    PASSWORD,
    PLATFORM_ALIAS,
    UNSERVED,
)
from siphelpers import assert_connected_or_refused


def test_call_within_tenant_connects_end_to_end(sip):
    result = sip.call(ALICE_A, PASSWORD[ALICE_A], BOB_A, callee_password=PASSWORD[BOB_A])
    assert result["callee_register"]["final"] == OK, result
    assert result["codes"][0] == 407, result  # the caller had to authenticate
    assert result["final"] == OK, result
    assert result["reinvite"] == [OK], result  # in-dialog, along the recorded route
    assert result["bye"] == OK, result
    assert result["uas"]["received"] == CALL_RECEIVED, result
    assert result["rc"] == 0, result


def test_call_to_other_tenant(sip, settings):
    """bob@companyb is registered and answering: only the tenant boundary decides."""
    result = sip.call(ALICE_A, PASSWORD[ALICE_A], BOB_B, callee_password=PASSWORD[BOB_B])
    assert result["callee_register"]["final"] == OK, result
    assert_connected_or_refused(result, settings["kamailio_allow_cross_tenant_calls"])


def test_call_with_another_users_credentials_forbidden(sip):
    """From alice, authenticated as bob with bob's password: refused, bob's UAS sees nothing."""
    result = sip.call(
        ALICE_A, PASSWORD[BOB_A], BOB_A, callee_password=PASSWORD[BOB_A], auth_user="bob"
    )
    assert result["callee_register"]["final"] == OK, result
    assert result["codes"] == CALL_REFUSED, result
    assert result["uas"]["received"] == [], result


def test_call_with_wrong_password_forbidden(sip):
    result = sip.call(ALICE_A, "not-" + PASSWORD[ALICE_A], BOB_A, callee_password=PASSWORD[BOB_A])
    assert result["callee_register"]["final"] == OK, result
    assert result["codes"] == CALL_REFUSED, result
    assert result["uas"]["received"] == [], result


def test_call_to_a_domain_not_served_is_not_relayed(sip):
    """The callee's domain is the UAS's own address: a proxy that relayed would reach it."""
    uas_port = 15099
    target = "bob@%s:%d" % (sip.address, uas_port)
    result = sip.call(ALICE_A, PASSWORD[ALICE_A], target, uas_port=uas_port)
    assert result["codes"] == [FORBIDDEN], result
    assert result["uas"]["received"] == [], result


def test_call_from_a_foreign_domain(sip, settings):
    """From alice@companyz (no tenant): refused unless kamailio_allow_foreign_callers."""
    result = sip.call("alice@" + UNSERVED, "irrelevant", BOB_A, callee_password=PASSWORD[BOB_A])
    assert result["callee_register"]["final"] == OK, result
    if settings["kamailio_allow_foreign_callers"]:
        # unauthenticated: no challenge for a domain this platform cannot authenticate
        assert result["final"] == OK, result
        assert result["uas"]["received"] == CALL_RECEIVED, result
    else:
        assert result["codes"] == [FORBIDDEN], result
        assert result["uas"]["received"] == [], result


def test_call_to_the_platform_alias(sip, settings):
    """kamailio_aliases: the platform's own domain is 'myself', yet no tenant's users live
    there: a call to it is not relayed anywhere (404); without the alias it is a foreign
    domain (403)."""
    alias = PLATFORM_ALIAS
    result = sip.call(ALICE_A, PASSWORD[ALICE_A], "bob@" + alias)
    if alias in settings["kamailio_aliases"]:
        assert result["codes"][0] == 407, result
        assert result["final"] == 404, result
    else:
        assert result["codes"] == [FORBIDDEN], result
    assert result["uas"]["received"] == [], result
