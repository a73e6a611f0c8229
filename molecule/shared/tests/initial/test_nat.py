"""NAT traversal: a phone behind a real NAT router (masquerade, ports remapped), on UDP and TCP.

The phone's Contact names its private address, which the proxy cannot reach: every request
that arrives at the phone came through the router, at the address and port the router
assigned to the phone's registration. Media relaying (kamailio_rtpengine_enable) is checked in
the scenario that enables it; elsewhere the SDP must pass untouched.
"""

import contextlib
import re
import uuid

import pytest
from sipdata import ALICE_A, BOB_A, CALL_RECEIVED, CAROL_B, OK, PASSWORD, REGISTERED
from siphelpers import in_background, wait_for

# the router's masquerade port range (molecule/shared/prepare.yml)
NAT_PORTS = range(20000, 30000)


def registered_contacts(kamcmd, aor):
    """(address, received) of every contact of `aor` in usrloc."""
    contacts = []
    for chunk in kamcmd("ul.lookup", "location", aor).split("Address: ")[1:]:
        received = re.search(r"Received: (\S+)", chunk)
        contacts.append((chunk.split()[0], received.group(1) if received else ""))
    return contacts


def wait_for_contact(kamcmd, aor, transport, public_address):
    """Wait until `aor` has a contact received from `public_address` over `transport`."""

    def found():
        try:
            contacts = registered_contacts(kamcmd, aor)
        except AssertionError:  # not registered yet: "error: 404 AOR not found"
            return None
        for address, received in contacts:
            if public_address in received and ("transport=tcp" in received) == (transport == "tcp"):
                return address, received
        return None

    return wait_for(found, 20, 0.3, "registration of %s over %s" % (aor, transport))


@pytest.fixture
def fresh(kamcmd):
    """Forget the registrations of an AoR first: earlier tests' contacts must not answer."""

    def forget(aor):
        with contextlib.suppress(AssertionError):  # not registered
            kamcmd("ul.rm", "location", aor)
        return aor

    return forget


def test_phone_behind_nat_registers_at_its_public_address(phone, kamcmd, fresh, nat_public_address):
    fresh(CAROL_B)
    result = phone.register(CAROL_B, PASSWORD[CAROL_B])
    assert result["codes"] == REGISTERED, result
    ((address, received),) = registered_contacts(kamcmd, CAROL_B)
    assert phone.address in address  # the Contact names the private address ...
    match = re.fullmatch(r"sip:([\d.]+):(\d+)", received)
    assert match, received  # ... the registration keeps where it came from
    assert match.group(1) == nat_public_address
    assert int(match.group(2)) in NAT_PORTS


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_reaches_phone_behind_nat(sip, phone, kamcmd, fresh, nat_public_address, transport):
    """A trusted caller calls a NATed phone; on TCP over the connection it registered on
    (the router forwards no new connections). re-INVITE and BYE travel the same way."""
    fresh(BOB_A)
    call_id = "nat-%s-%s" % (transport, uuid.uuid4().hex[:12])
    answered = in_background(
        phone.answer, BOB_A, PASSWORD[BOB_A], transport=transport, call_id=call_id, wait=40
    )
    wait_for_contact(kamcmd, BOB_A, transport, nat_public_address)
    result = sip.call(
        ALICE_A, PASSWORD[ALICE_A], BOB_A, no_uas=True, transport=transport, call_id=call_id
    )
    callee = answered()
    assert callee["register"]["codes"] == REGISTERED, callee
    assert result["final"] == OK, result
    assert result["reinvite"] == [OK], result
    assert result["bye"] == OK, result
    assert callee["uas"]["received"] == CALL_RECEIVED, callee


def test_call_between_two_phones_behind_nat(phone, fresh):
    """Caller and callee both behind the router: the proxy reaches each at its NAT binding."""
    fresh(BOB_A)
    result = phone.call(ALICE_A, PASSWORD[ALICE_A], BOB_A, callee_password=PASSWORD[BOB_A])
    assert result["callee_register"]["codes"] == REGISTERED, result
    assert result["final"] == OK, result
    assert result["reinvite"] == [OK], result
    assert result["bye"] == OK, result
    assert result["uas"]["received"] == CALL_RECEIVED, result


def test_proxy_sends_keepalives_to_phone_behind_nat(phone, fresh, proxy_ip, settings):
    """nathelper's OPTIONS reach the phone through its NAT binding, every interval."""
    interval = int(settings["kamailio_nat_keepalive_interval"])
    fresh(CAROL_B)
    result = phone.keepalive(CAROL_B, PASSWORD[CAROL_B], wait=2 * interval + 3)
    assert result["register"]["codes"] == REGISTERED, result
    keepalives = [r for r in result["received"] if r["method"] == "OPTIONS"]
    assert len(keepalives) >= 2, result
    assert {r["source"] for r in keepalives} == {"%s:5060" % proxy_ip}, result


def test_media_relay(sip, phone, target, kamcmd, fresh, proxy_ip, settings):
    """With kamailio_rtpengine_enable the callee's SDP names the relay (rtpengine on the proxy's
    address) and rtpengine lists the session while the call lasts; without, the SDP names the
    caller's own address."""
    fresh(BOB_A)
    call_id = "media-%s" % uuid.uuid4().hex[:12]
    relay = settings["kamailio_rtpengine_enable"]
    answered = in_background(sip.answer, BOB_A, PASSWORD[BOB_A], call_id=call_id, wait=40)
    wait_for_contact(kamcmd, BOB_A, "udp", sip.address)
    calling = in_background(
        phone.call, ALICE_A, PASSWORD[ALICE_A], BOB_A, no_uas=True, hold_ms=4000, call_id=call_id
    )
    if relay:
        sessions = wait_for(
            lambda: call_id in target.check_output("rtpengine-ctl list sessions all"),
            20,
            0.5,
            "rtpengine session of the call",
        )
        assert sessions
    result, callee = calling(), answered()
    assert result["final"] == OK, result
    assert callee["uas"]["received"] == CALL_RECEIVED, callee
    offered = set(callee["uas"]["sdp_c"])
    if relay:
        assert offered == {proxy_ip}, callee
        assert not target.run("systemctl is-active rtpengine-daemon").rc
    else:
        assert offered == {phone.address}, callee  # untouched: the private address
