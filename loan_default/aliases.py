"""The model registry's read side: which registered version holds an alias (``champion``, ...).

The MLflow registered model :data:`MODEL_NAME` tags each version with :data:`BENTO_TAG`
(``loan_default:<version>``, the same model in the Bento store). Serving resolves ``champion``
here; writing the registry (register, promote, roll back) is training's
(:mod:`training.registry`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from loan_default.settings import LoanSettings

MODEL_NAME = "loan_default"
BENTO_TAG = "bento_tag"
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"

# Governance tags on each MLflow model version (written by ``training.governance``).
STATUS_TAG = "governance.status"
"""challenger | approved | champion | retired."""
APPROVALS_TAG = "governance.approvals"
"""JSON list of {by, role, subject, reason, at}."""
WAIVERS_TAG = "governance.waivers"
"""JSON list of {gate, by, role, subject, reason, at}."""
GATES_TAG = "governance.gates"
"""JSON {at, results: [{gate, passed, detail, waived}]}: the latest gate evaluation."""


def client(settings: LoanSettings | None = None) -> MlflowClient:
    """A client of the configured tracking/registry store (no global state touched)."""
    uri = (settings or LoanSettings()).tracking_uri()
    if uri.startswith("sqlite:///"):  # a fresh home: SQLite needs the folder to exist
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def by_alias(alias: str, mlflow_client: MlflowClient) -> Any | None:
    """The version holding ``alias`` of the registered model; ``None`` if none holds it."""
    try:
        return mlflow_client.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None


def resolve_alias(alias: str, settings: LoanSettings | None = None) -> str | None:
    """The Bento tag of the version holding ``alias``; ``None`` if no version holds it.

    A local SQLite store that does not exist yet holds no alias: it is not created by a lookup
    (several serving workers creating it at once would race on its schema migrations).
    """
    uri = (settings or LoanSettings()).tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None
    mv = by_alias(alias, client(settings))
    return None if mv is None else mv.tags.get(BENTO_TAG)
