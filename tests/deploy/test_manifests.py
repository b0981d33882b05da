"""The Kubernetes manifests: one source for the alert rules, every overlay renders and passes
strict schema validation offline, and the validation really rejects a wrong field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from deploy.k8s import manifests


def test_prometheus_rule_holds_exactly_the_rules_of_alerts_yml() -> None:
    alerts = yaml.safe_load(manifests.ALERTS.read_text())
    rule = yaml.safe_load(manifests.RULE_FILE.read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == alerts["groups"]
    assert manifests.RULE_FILE.read_text() == manifests.rule_file_text()


def test_a_changed_alert_makes_the_rule_file_stale(tmp_path) -> None:
    alerts = yaml.safe_load(manifests.ALERTS.read_text())
    alerts["groups"][0]["rules"][0]["for"] = "7m"
    changed = tmp_path / "alerts.yml"
    changed.write_text(yaml.safe_dump(alerts))
    assert manifests.rule_file_text(changed) != manifests.RULE_FILE.read_text()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay.name: manifests.render(overlay) for overlay in manifests.overlays()}


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_every_overlay_renders_and_every_object_validates(rendered) -> None:
    assert set(rendered) == {"staging", "production"}
    for objects in rendered.values():
        for obj in objects:
            manifests.validate(obj)
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                "NetworkPolicy", "ConfigMap", "Secret", "ServiceMonitor",
                "PrometheusRule"} <= kinds  # fmt: skip


def test_the_service_deployment_is_what_the_brief_asks(rendered) -> None:
    objects = rendered["production"]
    pod = _one(objects, "Deployment", "loan-default")["spec"]["template"]["spec"]
    (service,) = pod["containers"]
    assert service["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert service["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert service["startupProbe"]["grpc"]["port"] == 3001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert service["securityContext"]["readOnlyRootFilesystem"] is True
    # The key files the settings name are on the read-only Secret volume (as the container
    # test runs the image: tests/deploy/test_container.py).
    settings = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")["secret"]["secretName"]
    (mount,) = [m for m in service["volumeMounts"] if m["name"] == "keys"]
    assert keys == "loan-default-keys" and mount["readOnly"] is True
    for setting in ("JWKS", "AUDIT_SIGNING_KEY", "PSEUDONYM_KEY", "DATA_KEY"):
        assert settings[f"LOAN_{setting}_FILE"].startswith(mount["mountPath"] + "/")
    assert service["image"].startswith("registry.example.com/credit-risk/loan-default:")
    hpa = _one(objects, "HorizontalPodAutoscaler", "loan-default")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
               for m in hpa["metrics"]}  # fmt: skip
    assert targets == {"cpu": 70, "memory": 80}
    # The generated ConfigMap/Secret names (content hash) are the ones the pods reference.
    config = next(o for o in objects if o["kind"] == "ConfigMap")["metadata"]["name"]
    secret = next(o for o in objects if o["kind"] == "Secret")["metadata"]["name"]
    refs = {next(iter(e.values()))["name"] for e in service["envFrom"]}
    assert refs == {config, secret}
    assert {o["metadata"]["namespace"] for o in objects} == {"loan-default"}


def test_validation_rejects_a_misspelled_field(rendered) -> None:
    deployment = copy.deepcopy(_one(rendered["staging"], "Deployment", "loan-default"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(manifests.ManifestError, match="imagePullPolcy"):
        manifests.validate(deployment)
    monitor = copy.deepcopy(_one(rendered["staging"], "ServiceMonitor", "loan-default-service"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(manifests.ManifestError, match="intervall"):
        manifests.validate(monitor)
    rule = copy.deepcopy(_one(rendered["staging"], "PrometheusRule", "loan-default-alerts"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    with pytest.raises(manifests.ManifestError, match="for"):
        manifests.validate(rule)
