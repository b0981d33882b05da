"""``loanctl lineage PREDICTION_ID``: from one answered decision back to its data and code.

Joins what no single layer holds: the traffic log line of the prediction (model version,
decision, time), the Bento model's metadata (data hash, schema fingerprint, code commit, MLflow
run), the MLflow version's governance tags (status, approvals) and run (the training file),
and any outcome recorded for it in the feedback log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
from mlflow.exceptions import MlflowException

from loan_default.aliases import APPROVALS_TAG, BENTO_TAG, MODEL_NAME, STATUS_TAG, client
from loan_default.errors import ConfigError, NotFoundError
from loan_default.settings import LoanSettings
from loan_default.store import BENTO_MODEL_NAME
from loan_default.traffic import Kind, lines, log_files, parse_line

NOT_RECORDED = "not recorded"


@dataclass
class Lineage:
    """What is known about one prediction, each item ``not recorded`` when absent."""

    prediction_id: str
    items: list[tuple[str, str]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)

    def add(self, label: str, value: Any) -> None:
        self.items.append((label, NOT_RECORDED if value in (None, "") else str(value)))

    def as_dict(self) -> dict[str, Any]:
        return {"prediction_id": self.prediction_id, **dict(self.items),
                "approvals": self.approvals}  # fmt: skip


def find_record(root: Path, kind: Kind, prediction_id: str) -> tuple[dict[str, Any] | None, int]:
    """The last line of ``kind`` about ``prediction_id`` (newest file first), and how many
    encrypted lines could not be read (no key configured)."""
    needle = prediction_id.encode()
    unreadable = 0
    for path in reversed(log_files(root, kind)):
        found = None
        for _, _, raw in lines(path, 0):
            if not raw.startswith(b'{"enc"') and needle not in raw:
                continue  # a plain line that cannot be about it: skip the JSON parse
            record, reason = parse_line(raw, None)
            if record is None:
                unreadable += int("LOAN_DATA_KEY_FILE" in str(reason))
                continue
            if record.get("prediction_id") == prediction_id:
                found = record
        if found is not None:
            return found, unreadable
    return None, unreadable


def trace(prediction_id: str, settings: LoanSettings | None = None) -> Lineage:
    """The lineage of ``prediction_id``.

    Raises:
        NotFoundError: no prediction of that id in the traffic log.
        ConfigError: the log is encrypted and no key is configured to read it.
    """
    settings = settings or LoanSettings()
    record, unreadable = find_record(settings.traffic_path, "predictions", prediction_id)
    if record is None:
        if unreadable:
            raise ConfigError(
                f"prediction {prediction_id!r} not found, but {unreadable:,} encrypted traffic "
                "line(s) could not be read: set LOAN_DATA_KEY_FILE to the data key ring"
            )
        raise NotFoundError(
            f"no prediction {prediction_id!r} in the traffic log under {settings.traffic_path}"
        )
    out = Lineage(prediction_id)
    version = str(record.get("model_version", ""))
    tag = version if ":" in version else f"{record.get('model_name') or BENTO_MODEL_NAME}:{version}"
    out.add("time", record.get("timestamp"))
    out.add("endpoint", record.get("endpoint"))
    out.add("application id", (record.get("application") or {}).get("application_id"))
    out.add("default probability", record.get("default_probability"))
    out.add("risk category", record.get("risk_category"))
    out.add("decision", record.get("decision"))
    out.add("model version", tag)
    meta: dict[str, Any] = {}
    try:
        meta = dict(bentoml.models.get(tag).info.metadata)
    except (bentoml.exceptions.NotFound, ValueError):
        out.add("model in the Bento store", "no (deleted since?)")
    run_id = meta.get("mlflow_run_id")
    out.add("MLflow model version", meta.get("mlflow_model_version"))
    out.add("MLflow run", run_id)
    out.add("data hash", meta.get("data_hash"))
    out.add("data source", meta.get("data_source"))
    out.add("data file", _data_file(settings, run_id))
    out.add("code commit", meta.get("git_commit"))
    out.add("feature schema fingerprint", meta.get("schema_fingerprint"))
    out.add("artifact SHA-256", meta.get("artifact_sha256"))
    tags = _version_tags(settings, tag)
    out.add("governance status", tags.get(STATUS_TAG))
    try:
        approvals = json.loads(tags.get(APPROVALS_TAG) or "[]")
    except json.JSONDecodeError:
        approvals = []
    out.approvals = [a for a in approvals if isinstance(a, dict)]
    outcome, _ = find_record(settings.traffic_path, "feedback", prediction_id)
    out.add("observed outcome", None if outcome is None else outcome.get("observed_default"))
    return out


def _version_tags(settings: LoanSettings, tag: str) -> dict[str, str]:
    try:
        found = client(settings).search_model_versions(
            f"name = '{MODEL_NAME}' and tags.{BENTO_TAG} = '{tag}'"
        )
    except MlflowException:
        return {}
    return {str(k): str(v) for k, v in found[0].tags.items()} if found else {}


def _data_file(settings: LoanSettings, run_id: str | None) -> str | None:
    if not run_id:
        return None
    try:
        return client(settings).get_run(run_id).data.tags.get("data_file")
    except MlflowException:
        return None
