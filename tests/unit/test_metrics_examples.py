"""The example dashboard and alerting rules name only series the Kamailio config defines.

A metric renamed in roles/kamailio/templates/kamailio.cfg.j2 and not in examples/ (or a typo in
an example) fails here, before an operator's dashboard silently shows nothing.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "roles" / "kamailio" / "templates" / "kamailio.cfg.j2"
DASHBOARD = REPO / "examples" / "grafana" / "sipstack-kamailio-tenants.json"
ALERTS = REPO / "examples" / "prometheus" / "sipstack-kamailio-alerts.yml"
# xhttp_prom's prefix (xhttp_prom_beginning, not set: its default)
PREFIX = "kamailio_"
# Kamailio's own statistics the examples use (xhttp_prom_stats "all"), as 5.6 and 6.0 name them
KAMAILIO_STATISTICS = {"kamailio_core_rcv_requests", "kamailio_tmx_active_transactions"}


def declared_series():
    """Names of the metrics the config declares with prom_counter / prom_gauge."""
    names = re.findall(r'"prom_(?:counter|gauge)", "name=([a-z_]+);', TEMPLATE.read_text())
    assert names, "no prom_counter/prom_gauge declaration found in %s" % TEMPLATE
    return {PREFIX + name for name in names}


def used_series(exprs):
    return {name for expr in exprs for name in re.findall(r"\bkamailio_[a-z_]+\b", expr)}


def dashboard_exprs():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def alert_exprs():
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.mark.parametrize("exprs", [dashboard_exprs, alert_exprs], ids=["dashboard", "alerts"])
def test_examples_use_only_declared_series(exprs):
    used = used_series(exprs())
    assert used, "no kamailio_ series used"
    unknown = used - declared_series() - KAMAILIO_STATISTICS
    assert not unknown, "series no config defines: %s" % sorted(unknown)


def test_counters_follow_prometheus_naming():
    """Counters end in _total, gauges do not."""
    text = TEMPLATE.read_text()
    counters = re.findall(r'"prom_counter", "name=([a-z_]+);', text)
    gauges = re.findall(r'"prom_gauge", "name=([a-z_]+);', text)
    assert counters and gauges
    assert all(name.endswith("_total") for name in counters), counters
    assert not any(name.endswith("_total") for name in gauges), gauges


def test_dashboard_shows_every_tenant_series():
    tenant_series = {name for name in declared_series() if name.startswith("kamailio_tenant_")}
    assert tenant_series <= used_series(dashboard_exprs())
