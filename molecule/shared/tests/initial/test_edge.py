"""The proxy's edge: no relaying for strangers' "dialogs", no crash on malformed messages."""

import pytest
from sipdata import ALICE_B, PASSWORD, REGISTERED
from siphelpers import CLIENT_TOOLS_DIR

CORPUS = CLIENT_TOOLS_DIR + "/malformed"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_in_dialog_request_of_no_dialog_of_ours_is_not_relayed(sip, transport):
    """An INVITE with a To-tag and a route set (this proxy, then a listener on the client):
    refused, and the listener, the would-be victim, receives nothing. Sent from the trusted
    client: trust does not open relaying either."""
    result = sip.edge("relay", transport=transport)
    assert result["codes"] == [403], result
    assert result["listener"] == [], result


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_malformed_corpus_does_not_bring_the_proxy_down(sip, target, kamailio_pid, transport):
    before = kamailio_pid()
    result = sip.edge("corpus", "--dir", CORPUS, transport=transport)
    assert len(result["sent"]) >= 25, result
    assert kamailio_pid() == before, "Kamailio restarted or crashed"
    assert target.service("kamailio").is_running
    after = sip.register(ALICE_B, PASSWORD[ALICE_B], transport=transport)
    assert after["codes"] == REGISTERED, after
