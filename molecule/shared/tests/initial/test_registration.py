"""Registration after converge: every tenant is a separate realm, with its own passwords.

Each case runs with two independent digest implementations (sipp and sipsak) from the client
host against the target's address, and asserts the exact final SIP response code.
"""

import pytest
from sipdata import (
    ALICE_A,
    ALICE_B,
    ALICE_UNSERVED,
    BOB_A,
    BOB_B,
    CAROL_A,
    CAROL_B,
    COMPANYB,
    OK,
    PASSWORD,
    REFUSED,
    REGISTERED,
    USER_AGENTS,
)

NOT_SERVED = 403  # a domain no tenant has: refused at once, never challenged as if it were ours


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_alice_registers_in_companya_with_companya_password(sip, ua):
    result = sip.register(ALICE_A, PASSWORD[ALICE_A], client=ua)
    assert result["codes"] == REGISTERED, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_alice_registers_in_companyb_with_companyb_password(sip, ua):
    result = sip.register(ALICE_B, PASSWORD[ALICE_B], client=ua)
    assert result["codes"] == REGISTERED, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_alice_in_companyb_refused_with_companya_password(sip, ua):
    result = sip.register(ALICE_B, PASSWORD[ALICE_A], client=ua)
    assert result["codes"] == REFUSED, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_alice_in_companya_refused_with_companyb_password(sip, ua):
    result = sip.register(ALICE_A, PASSWORD[ALICE_B], client=ua)
    assert result["codes"] == REFUSED, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_user_of_another_tenant_refused(sip, ua):
    """carol exists in companyb only: her own, correct password does not open companya."""
    assert sip.register(CAROL_B, PASSWORD[CAROL_B], client=ua)["codes"] == REGISTERED
    result = sip.register(CAROL_A, PASSWORD[CAROL_B], client=ua)
    assert result["codes"] == REFUSED, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_domain_not_served_refused(sip, ua):
    result = sip.register(ALICE_UNSERVED, PASSWORD[ALICE_A], client=ua)
    assert result["final"] == NOT_SERVED, result
    assert 401 not in result["codes"], result


def test_precomputed_ha1b_accepted_for_user_at_domain_digest_username(sip):
    """companyb's ha1b (no password stored anywhere) serves the digest username user@domain."""
    result = sip.register(BOB_B, PASSWORD[BOB_B], auth_user="bob@" + COMPANYB)
    assert result["codes"] == REGISTERED, result


@pytest.mark.parametrize("ua", USER_AGENTS)
def test_alice_refused_with_bobs_credentials(sip, ua):
    """bob's own name and password (digest username bob) do not register alice."""
    result = sip.register(ALICE_A, PASSWORD[BOB_A], client=ua, auth_user="bob")
    assert result["codes"] == REFUSED, result


def test_registered_aors_visible_in_usrloc(sip, kamcmd):
    for aor in (ALICE_A, ALICE_B):
        assert sip.register(aor, PASSWORD[aor])["final"] == OK
    dump = kamcmd("ul.dump")
    for aor in (ALICE_A, ALICE_B):
        assert "AoR: %s" % aor in dump, dump
    assert ALICE_UNSERVED not in dump, dump
