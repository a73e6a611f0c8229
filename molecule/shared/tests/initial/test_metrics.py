"""Metrics for Prometheus: a real Prometheus (Debian's package, on the trusted client host)
scrapes the proxy's metrics socket; the per-tenant series are read back through Prometheus'
own HTTP API, never from the proxy directly.

Expected values come from what the tests themselves do: registrations made, wrong passwords
sent, calls placed. The metrics socket answers only kamailio_metrics_allowed_networks (the
trusted client here): the attacker host gets 403 and no metric.
"""

import json
import time
from pathlib import Path

import pytest
import yaml
from sipdata import (
    ALICE_A,
    ALICE_B,
    BOB_A,
    BOB_B,
    CAROL_B,
    COMPANYA,
    COMPANYB,
    ERIN_A,
    OK,
    PASSWORD,
    REFUSED,
    REGISTERED,
)
from siphelpers import wait_for

ALERTS = (
    Path(__file__).resolve().parents[4] / "examples" / "prometheus" / "sipstack-kamailio-alerts.yml"
)
PROM_DIR = "/var/lib/sipstack-prometheus"
PROM_URL = "http://127.0.0.1:9090"
SCRAPE_SECONDS = 1
# The demo tenants' accounts, all of them cleared before the count starts.
TENANT_AORS = {COMPANYA: (ALICE_A, BOB_A, ERIN_A), COMPANYB: (ALICE_B, BOB_B, CAROL_B)}
# usrloc writes registrations every kamailio_usrloc_timer_interval (10 s in the scenarios), the
# proxy counts them every kamailio_metrics_contacts_interval (15 s), Prometheus scrapes each
# second: a change shows within about half a minute.
SHOWS_WITHIN = 90


@pytest.fixture(scope="module")
def metrics_url(proxy_ip, settings):
    return "http://%s:%s/metrics" % (proxy_ip, settings["kamailio_metrics_port"])


@pytest.fixture(scope="module")
def prometheus(client, metrics_url):
    """Prometheus on the client host, scraping the proxy every second; its query API."""
    host, rest = metrics_url[len("http://") :].split("/", 1)
    config = (
        "global:\n"
        "  scrape_interval: %ds\n"
        "  evaluation_interval: 1s\n"
        "rule_files: [alerts.yml]\n"
        "scrape_configs:\n"
        "  - job_name: kamailio\n"
        "    metrics_path: /%s\n"
        "    static_configs:\n"
        "      - targets: ['%s']\n" % (SCRAPE_SECONDS, rest, host)
    )
    client.check_output("rm -rf %s && mkdir -p %s/data", PROM_DIR, PROM_DIR)
    client.check_output("printf '%%s' %s > %s/prometheus.yml", config, PROM_DIR)
    client.check_output("printf '%%s' %s > %s/alerts.yml", ALERTS.read_text(), PROM_DIR)
    start = (
        "echo $$ > {d}/pid; exec prometheus --config.file={d}/prometheus.yml"
        " --storage.tsdb.path={d}/data --web.listen-address=127.0.0.1:9090"
        " > {d}/prometheus.log 2>&1".format(d=PROM_DIR)
    )
    client.check_output("setsid -f sh -c %s", start)

    def query(expr):
        """Instant query: {tenant (or reason) label: value}."""
        out = client.check_output(
            "curl -sfG --data-urlencode %s %s/api/v1/query", "query=" + expr, PROM_URL
        )
        answer = json.loads(out)
        assert answer["status"] == "success", answer
        return {
            r["metric"].get("tenant", r["metric"].get("reason", "")): float(r["value"][1])
            for r in answer["data"]["result"]
        }

    def ready():
        if client.run("curl -sf %s/-/ready", PROM_URL).rc != 0:
            return False
        return query('up{job="kamailio"}') == {"": 1.0}

    wait_for(ready, 60, what="Prometheus up and scraping the proxy")
    yield query
    client.run("kill $(cat %s/pid)", PROM_DIR)


def _clear_registrations(target):
    for aors in TENANT_AORS.values():
        for aor in aors:
            # kamcmd answers "AOR not found" for an account with no registration: no matter
            target.check_output("kamcmd ul.rm location %s", aor)


@pytest.fixture
def no_demo_registrations(target):
    """The demo tenants' registrations removed before and after the test."""
    _clear_registrations(target)
    yield
    _clear_registrations(target)


def _settled(prometheus, expr, expected):
    """Wait until `expr` shows exactly `expected`, then check it stays so for a few scrapes."""
    wait_for(
        lambda: {k: prometheus(expr).get(k) for k in expected} == expected,
        SHOWS_WITHIN,
        what="%s == %s (last %s)" % (expr, expected, prometheus(expr)),
    )
    time.sleep(5 * SCRAPE_SECONDS)
    got = {k: prometheus(expr).get(k) for k in expected}
    assert got == expected, "%s moved on to %s" % (expr, got)


def test_example_alerting_rules_evaluate(prometheus, client):
    """examples/prometheus: every rule loaded and evaluated by this Prometheus without error."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    expected = sorted(rule["alert"] for group in groups for rule in group["rules"])

    def evaluated():
        out = client.check_output("curl -sf %s/api/v1/rules", PROM_URL)
        rules = [r for group in json.loads(out)["data"]["groups"] for r in group["rules"]]
        # "0001-01-01T00:00:00Z" until the first evaluation
        if rules and all(not r["lastEvaluation"].startswith("0001") for r in rules):
            return rules
        return None

    rules = wait_for(evaluated, 30, what="alerting rules evaluated")
    assert sorted(r["name"] for r in rules) == expected, rules
    assert all(r["health"] == "ok" for r in rules), rules


def test_kamailio_statistics_are_scraped(prometheus):
    """Kamailio's own core, transaction and registrar statistics reach Prometheus."""
    for name in (
        "kamailio_core_rcv_requests",
        "kamailio_tmx_UAS_transactions",
        "kamailio_registrar_accepted_regs",
    ):
        assert prometheus(name), "%s not scraped" % name


def test_registered_contacts_per_tenant_equal_registrations_made(
    prometheus, sip, no_demo_registrations
):
    gauge = "kamailio_tenant_registered_contacts"
    accepted = "kamailio_tenant_register_accepted_total"
    _settled(prometheus, gauge, {COMPANYA: 0.0, COMPANYB: 0.0})
    before = prometheus(accepted)

    # different numbers per tenant: a swapped or merged label cannot pass
    made = {COMPANYA: (ALICE_A,), COMPANYB: (ALICE_B, BOB_B, CAROL_B)}
    for aors in made.values():
        for aor in aors:
            assert sip.register(aor, PASSWORD[aor], expires=600)["codes"] == REGISTERED

    _settled(prometheus, gauge, {tenant: float(len(aors)) for tenant, aors in made.items()})
    _settled(
        prometheus,
        accepted,
        {tenant: before[tenant] + len(aors) for tenant, aors in made.items()},
    )


def test_register_refused_counter_rises_by_the_failed_attempts(prometheus, sip):
    refused = "kamailio_tenant_register_refused_total"
    failures = "kamailio_tenant_auth_failures_total"
    before = {name: prometheus(name) for name in (refused, failures)}
    attempts = 3
    for attempt in range(attempts):
        # the trusted client: counted, never banned
        result = sip.register(BOB_B, PASSWORD[BOB_A])
        assert result["codes"] == REFUSED, (attempt, result)

    for name in (refused, failures):
        expected = {COMPANYB: before[name][COMPANYB] + attempts, COMPANYA: before[name][COMPANYA]}
        _settled(prometheus, name, expected)


def test_calls_attempted_answered_and_cross_tenant_refused(prometheus, sip, settings):
    counters = (
        "kamailio_tenant_calls_attempted_total",
        "kamailio_tenant_calls_answered_total",
        "kamailio_tenant_calls_cross_tenant_refused_total",
    )
    before = {name: prometheus(name).get(COMPANYA, 0.0) for name in counters}

    answered = sip.call(ALICE_A, PASSWORD[ALICE_A], BOB_A, callee_password=PASSWORD[BOB_A])
    assert answered["final"] == OK, answered
    other = sip.call(ALICE_A, PASSWORD[ALICE_A], BOB_B, callee_password=PASSWORD[BOB_B])
    cross_refused = 0 if settings["kamailio_allow_cross_tenant_calls"] else 1

    attempted, answered_total, cross = counters
    # two authenticated INVITEs of companya; its re-INVITEs are not new calls
    _settled(prometheus, attempted, {COMPANYA: before[attempted] + 2})
    _settled(prometheus, answered_total, {COMPANYA: before[answered_total] + 2 - cross_refused})
    _settled(prometheus, cross, {COMPANYA: before[cross] + cross_refused})
    assert other["final"] == (OK if not cross_refused else 403), other


def _http_status(host, url):
    """The HTTP status code (000: no answer) and the body."""
    result = host.run("curl -s -m 5 -w '\\n%%{http_code}' %s", url)
    body, status = result.stdout.rsplit("\n", 1)
    return status.strip(), body


def test_metrics_answer_the_trusted_client(client, metrics_url):
    status, body = _http_status(client, metrics_url)
    assert status == "200", (status, body[:200])
    assert 'kamailio_tenant_registered_contacts{tenant="%s"}' % COMPANYA in body


def test_metrics_refuse_a_client_outside_the_trusted_networks(attacker, metrics_url):
    status, body = _http_status(attacker.host, metrics_url)
    assert status == "403", (status, body[:200])
    assert "kamailio_" not in body


def test_sip_ports_serve_no_metrics(client, proxy_ip):
    """Only the metrics socket answers HTTP with metrics, not the SIP socket."""
    status, body = _http_status(client, "http://%s:5060/metrics" % proxy_ip)
    assert status != "200" and "kamailio_" not in body, (status, body[:200])
