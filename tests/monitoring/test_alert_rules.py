"""Alert rules, Alertmanager routing and the Grafana dashboard.

promtool and amtool are the real ones (``make promtool`` installs Debian's packages; CI runs
``make check-alerts`` before the suite). The metric names every rule and panel queries must be
exported by the service (``runners.metrics``) or by the sidecar (``monitoring.metrics``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "configs" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "configs" / "prometheus" / "alerts_test.yml"
PROMETHEUS = ROOT / "configs" / "prometheus" / "prometheus.yml"
ALERTMANAGER = ROOT / "configs" / "alertmanager.yml"
DASHBOARD = ROOT / "configs" / "grafana" / "loan-default-dashboard.json"
DOCS = ROOT / "docs" / "monitoring.md"

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here: run `make promtool` (CI installs it)")
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (labels, ranges and functions removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\boffset\s+[0-9][0-9a-z]*", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name, rest = match.group(), text[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def exported_metrics() -> set[str]:
    """Every name the service and the sidecar expose, plus Prometheus's own ``up``."""
    from prometheus_client.metrics import MetricWrapperBase

    import runners.metrics as service_metrics
    from monitoring.metrics import SidecarMetrics

    names = SidecarMetrics().metric_names() | {"up"}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for value in vars(service_metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.add(family.name)
                names.update(family.name + end for end in suffixes.get(family.type, ()))
    return names


def test_metric_name_parser() -> None:
    expr = (
        'sum(rate(a_total{kind=~"x|y"}[5m])) / (sum by (le, job) (b_bucket[1m]) or vector(0))'
        ' > 0.05 and on () max(up{job="s"}) == 1 or c - c offset 1d > 0.1'
    )
    assert metric_names(expr) == {"a_total", "b_bucket", "up", "c"}


def test_promtool_checks_the_rules_and_the_scrape_config() -> None:
    promtool = tool("promtool")
    checked = run(promtool, "check", "config", str(PROMETHEUS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = tool("promtool")
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in rules()}
    assert alerts >= {
        "HighPredictionLatency", "ModelAccuracyDrop", "DataDriftDetected", "HighErrorRate",
        "FairnessBreach", "ScoreDrift", "NoTraffic", "MonitoringSidecarDown",
    }  # fmt: skip
    assert firing == alerts
    assert silent == alerts


def test_rules_query_only_exported_metrics_and_are_documented() -> None:
    exported = exported_metrics()
    docs = DOCS.read_text().lower()
    for rule in rules():
        unknown = metric_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} queries unknown metrics {unknown}"
        assert rule["labels"]["severity"] in {"critical", "warning"}
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f"### {anchor}" in docs, f"docs/monitoring.md has no runbook for {rule['alert']}"


def test_dashboard_panels_query_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_metrics()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("request rate", "latency", "errors", "risk mix", "drift", "auc", "impact"):
        assert topic in titles, f"no {topic} panel"
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            unknown = metric_names(target["expr"]) - exported
            assert not unknown, f"panel {panel['title']!r} queries unknown metrics {unknown}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_alertmanager_config_is_valid_and_routes_every_severity() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = config["route"]["routes"]
    routed: dict[str, set[str]] = {}
    for route in routes:
        for matcher in route["matchers"]:
            for severity in ("critical", "warning"):
                if re.search(rf"severity=~?\"[^\"]*{severity}", matcher):
                    routed.setdefault(severity, set()).add(route["receiver"])
    assert {"pagerduty_configs", "email_configs"} <= set(
        next(receivers[r] for r in routed["critical"] if "pagerduty_configs" in receivers[r])
    )
    assert any("slack_configs" in receivers[r] for r in routed["warning"])
    text = ALERTMANAGER.read_text()
    for secret in ("smtp_auth_password:", "slack_api_url:", "routing_key:", "service_key:"):
        assert secret not in text, f"{secret} must come from a *_file, not the repository"
    amtool = tool("amtool")
    checked = run(amtool, "check-config", str(ALERTMANAGER))
    assert checked.returncode == 0, checked.stdout + checked.stderr
