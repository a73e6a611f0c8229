"""Scenario cluster: two SIP servers share their registrations (usrloc db_mode 3, one database).

A phone registers through one proxy and is called through the other, both ways round; the
registration carries the server_id of the proxy that saved it. NAT keepalives come from one
proxy only: the one the phone registered through.
"""

import contextlib
import uuid

import pytest
from sipdata import ALICE_A, BOB_A, CALL_RECEIVED, CAROL_B, OK, PASSWORD, REGISTERED
from siphelpers import in_background, mysql, wait_for


def location_rows(database, aor):
    """(contact, server_id) of every registration of `aor` in the shared location table."""
    user, domain = aor.split("@", 1)
    query = "SELECT contact, server_id FROM location WHERE username = '%s' AND domain = '%s'"
    out = mysql(database, query % (user, domain))
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def forget(proxy, aor):
    """Remove every registration of `aor` (from the database: db_mode 3)."""
    with contextlib.suppress(AssertionError):
        proxy.check_output("kamcmd ul.rm location %s", aor)


@pytest.mark.parametrize(
    ("registrar", "caller_proxy"),
    [(0, 1), (1, 0)],
    ids=["via-1-called-via-2", "via-2-called-via-1"],
)
def test_phone_registered_through_one_proxy_is_called_through_the_other(
    proxies, sips, database, registrar, caller_proxy
):
    forget(proxies[0], BOB_A)
    answered = in_background(sips[registrar].answer, BOB_A, PASSWORD[BOB_A], wait=40)
    rows = wait_for(lambda: location_rows(database, BOB_A), 20, 0.3, "registration of bob")
    # saved by the proxy it went through, under that proxy's server_id
    assert [server_id for _contact, server_id in rows] == [str(registrar + 1)], rows
    result = sips[caller_proxy].call(
        ALICE_A, PASSWORD[ALICE_A], BOB_A, no_uas=True, call_id="cluster-%s" % uuid.uuid4().hex
    )
    callee = answered()
    assert callee["register"]["codes"] == REGISTERED, callee
    assert result["codes"][0] == 407, result  # the caller authenticated at the other proxy
    assert result["final"] == OK, result
    assert result["reinvite"] == [OK], result
    assert result["bye"] == OK, result
    assert callee["uas"]["received"] == CALL_RECEIVED, callee


@pytest.mark.parametrize("registrar", [0, 1], ids=["via-1", "via-2"])
def test_keepalives_come_only_from_the_proxy_registered_through(proxies, sips, registrar):
    """Every proxy reads every NATed contact from the database; only the one that saved it
    pings it (its NAT binding leads there)."""
    interval = int(proxies[0].backend.get_variables()["kamailio_nat_keepalive_interval"])
    forget(proxies[0], CAROL_B)
    try:
        result = sips[registrar].keepalive(CAROL_B, PASSWORD[CAROL_B], wait=3 * interval + 3)
    finally:
        forget(proxies[0], CAROL_B)
    assert result["register"]["codes"] == REGISTERED, result
    keepalives = [r for r in result["received"] if r["method"] == "OPTIONS"]
    assert len(keepalives) >= 2, result
    assert {r["source"] for r in keepalives} == {"%s:5060" % sips[registrar].proxy}, result
