"""Calls after converge: sipp UAC -> Kamailio -> sipp UAS, end to end on the client host."""

from sipdata import ALICE_A, BOB_A, BOB_B, PASSWORD


def test_call_within_tenant_connects_end_to_end(sip):
    result = sip.call(ALICE_A, PASSWORD[ALICE_A], BOB_A, callee_password=PASSWORD[BOB_A])
    assert result["callee_register"]["final"] == 200, result
    assert 407 in result["codes"], result  # the caller had to authenticate
    assert result["final"] == 200, result
    assert result["bye"] == 200, result
    assert result["uas"]["received"] == ["INVITE", "ACK", "BYE"], result
    assert result["rc"] == 0, result


def test_call_to_other_tenant_forbidden(sip):
    """bob@companyb is registered and answering: only the tenant boundary refuses the call."""
    result = sip.call(ALICE_A, PASSWORD[ALICE_A], BOB_B, callee_password=PASSWORD[BOB_B])
    assert result["callee_register"]["final"] == 200, result
    assert result["final"] == 403, result
    assert "INVITE" not in result["uas"]["received"], result
