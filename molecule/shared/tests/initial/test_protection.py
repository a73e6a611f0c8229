"""Flood, password guessing and scanners, from an untrusted host (the attacker) with real tools.

The attacker's bans are lifted before each test the way the README shows (kamcmd htable.delete),
so each test starts from an unbanned source; the expiry tests wait for bans to end by
themselves. A second untrusted source, the NAT router's phone, keeps being served throughout.
"""

import contextlib
import time

import pytest
from sipdata import ALICE_A, ALICE_B, ERIN_A, OK, PASSWORD, REFUSED, REGISTERED
from siphelpers import CLIENT_TOOLS_DIR, wait_for

SCANNER = "friendly-scanner"  # sipvicious' own User-Agent
DISGUISE = "Z 5.4.12 v2.10.19.9"  # a softphone's User-Agent, as an attacker would send
WORDS = CLIENT_TOOLS_DIR + "/svcrack-words.txt"  # password guesses (on the attacker)
EXTENSIONS = CLIENT_TOOLS_DIR + "/svwar-extensions.txt"  # user names to enumerate
SILENCE = 4  # seconds a client waits where no answer must come (sipp retransmits meanwhile)
FLOOD = {"rate": 300, "count": 600}  # 2 s at 300 requests/s: far above any phone


@pytest.fixture
def attacker_clean(attacker, bans):
    """The attacker unbanned and answered again (flood detection forgets it within seconds)."""

    def answered_after_lift():
        bans.lift(attacker.address)
        return attacker.answered()

    wait_for(answered_after_lift, 40, 2, "the attacker answered again after lifting its ban")
    yield attacker
    bans.lift(attacker.address)


def wait_until_ban_expires(source, started, ban_time):
    """Poll until `source` is answered again; return the seconds since `started`."""
    wait_for(source.answered, ban_time + 40, 2, "ban expiry")
    return time.monotonic() - started


def test_flood_bans_the_source_while_others_carry_on_and_the_ban_expires(
    attacker_clean, phone, bans, settings
):
    attacker, ban_time = attacker_clean, int(settings["kamailio_antiflood_ban_time"])
    started = time.monotonic()
    flood = attacker.edge("flood", **FLOOD)
    assert flood["sent"] == FLOOD["count"], flood
    assert flood["answered"] < flood["sent"] // 2, flood  # it stopped getting answers
    assert bans.get(attacker.address) == "flood"
    unanswered = attacker.register(ALICE_B, PASSWORD[ALICE_B], within=SILENCE)
    assert unanswered["codes"] == [], "banned, yet answered: %s" % unanswered
    # another untrusted source is not affected
    assert phone.register(ALICE_B, PASSWORD[ALICE_B])["codes"] == REGISTERED
    elapsed = wait_until_ban_expires(attacker, started, ban_time)
    assert elapsed >= ban_time - 1, "the ban ended after %.1f s, before its time" % elapsed
    assert attacker.register(ALICE_B, PASSWORD[ALICE_B])["codes"] == REGISTERED


def test_trusted_network_is_never_banned(sip, bans, settings):
    """The same flood and more wrong passwords than the limit, from the trusted client."""
    flood = sip.edge("flood", **FLOOD)
    assert flood["answered"] >= flood["sent"] * 0.95, flood
    for attempt in range(int(settings["kamailio_auth_failure_ban_after"]) + 2):
        assert sip.register(ALICE_B, "wrong-%d" % attempt)["codes"] == REFUSED
    assert bans.get(sip.address) is None
    assert sip.register(ALICE_B, PASSWORD[ALICE_B])["codes"] == REGISTERED


def test_wrong_passwords_ban_the_source(attacker_clean, phone, bans, settings):
    attacker, ban_time = attacker_clean, int(settings["kamailio_antiflood_ban_time"])
    ban_after = int(settings["kamailio_auth_failure_ban_after"])
    for attempt in range(ban_after - 1):
        assert attacker.register(ALICE_B, "wrong-%d" % attempt)["codes"] == REFUSED
        time.sleep(0.3)  # a patient guesser: no flood detection involved
    assert bans.get(attacker.address) is None, "banned before %d failures" % ban_after
    started = time.monotonic()
    assert attacker.register(ALICE_B, "wrong-last")["codes"] == REFUSED
    assert bans.get(attacker.address) == "auth"
    # even the right password gets no answer now ...
    assert attacker.register(ALICE_B, PASSWORD[ALICE_B], within=SILENCE)["codes"] == []
    # ... while another source registers the same user
    assert phone.register(ALICE_B, PASSWORD[ALICE_B])["codes"] == REGISTERED
    elapsed = wait_until_ban_expires(attacker, started, ban_time)
    assert elapsed >= ban_time - 1, "the ban ended after %.1f s, before its time" % elapsed
    assert attacker.register(ALICE_B, PASSWORD[ALICE_B])["codes"] == REGISTERED


def svcrack(attacker, words):
    """svcrack against alice@companya with `words`, disguised as a softphone; its output."""
    placeholders = " ".join(["%s"] * len(words))
    attacker.host.check_output("printf '%%s\\n' " + placeholders + " > " + WORDS, *words)
    args = ["-u", "alice", "-d", WORDS, "--domain", "companya.example"]
    args += ["-t", "0.2", "--maximumtime", "5"]  # a guess every 0.2 s; give up after 5 s of silence
    result = attacker.edge("sipvicious", "--", "svcrack", *args, ua=DISGUISE)
    return result["output"].split("[sipcheck]")[0]


def target_clock(target):
    """The target's clock now, in whole seconds since the epoch (for journalctl --since)."""
    return int(target.check_output("date +%s"))


def test_svcrack_is_stopped_by_the_ban(attacker_clean, bans, settings, target):
    attacker, password = attacker_clean, PASSWORD[ALICE_A]
    # control: svcrack does find a password among its first guesses here
    assert password in svcrack(attacker, ["guess-1", "guess-2", password])
    bans.lift(attacker.address)
    guesses = ["guess-%d" % n for n in range(int(settings["kamailio_auth_failure_ban_after"]) + 4)]
    started = target_clock(target)
    output = svcrack(attacker, [*guesses, password])
    assert password not in output, output
    assert "found nothing" in output, output
    assert "since we last received a response - stopping" in output, output  # silenced
    # the ban may have run out while svcrack waited: Kamailio's log says who silenced it
    log = target.check_output("journalctl -u kamailio --no-pager --since @%s", str(started))
    assert "auth: %s banned" % attacker.address in log, log[-2000:]


def test_scanner_user_agent_gets_no_answer(attacker_clean, sip):
    attacker = attacker_clean
    assert not attacker.answered(ua=SCANNER)
    assert attacker.answered(ua=DISGUISE)  # the same source, answered: the User-Agent decides
    assert attacker.register(ALICE_A, PASSWORD[ALICE_A], ua=SCANNER, within=SILENCE)["codes"] == []
    assert not sip.answered(ua=SCANNER)  # scanners get silence from trusted networks too


def svwar(attacker, ua=None):
    attacker.host.check_output("printf 'alice\\nbob\\nnobody\\nghost\\n' > " + EXTENSIONS)
    args = ["-d", EXTENSIONS, "--domain", "companya.example", "-t", "0.3", "--force"]
    args += ["--maximumtime", "5"]
    return attacker.edge("sipvicious", "--", "svwar", *args, ua=ua)["output"].split("[sipcheck]")[0]


def test_svwar_cannot_tell_accounts_from_missing_ones(attacker_clean):
    # as itself: no answer at all
    output = svwar(attacker_clean)
    assert "found nothing" in output, output
    assert "SIP/2.0" not in output, output
    # disguised: every extension, existing (alice, bob) or not, gets the same challenge
    output = svwar(attacker_clean, ua=DISGUISE)
    assert "Bad user = SIP/2.0 401" in output, output
    assert "found nothing" in output, output


def test_registration_limit_per_account(sip, kamcmd, settings):
    limit = int(settings["kamailio_registrar_max_contacts"])
    with contextlib.suppress(AssertionError):  # not registered yet
        kamcmd("ul.rm", "location", ERIN_A)
    ports = [16100 + n for n in range(limit + 1)]
    for port in ports[:limit]:
        assert sip.register(ERIN_A, PASSWORD[ERIN_A], port=port)["codes"] == REGISTERED
    assert sip.register(ERIN_A, PASSWORD[ERIN_A], port=ports[-1])["codes"] == [401, 503]
    # a phone refreshing its registration is not refused
    assert sip.register(ERIN_A, PASSWORD[ERIN_A], port=ports[0])["final"] == OK


def test_tcp_connections_per_source_limited(sip, settings):
    limit = int(settings["kamailio_tcp_max_connections_per_ip"])
    held = sip.edge("tcp-connections", count=limit + 2)["answered"]
    assert held == [True] * limit + [False] * 2, held
    # closed connections no longer count
    assert sip.edge("tcp-connections", count=limit)["answered"] == [True] * limit
