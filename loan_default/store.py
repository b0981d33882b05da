"""The Bento model store: how a :class:`ScoringModel` and its metadata are saved and loaded.

A registered model is one Bento model named :data:`BENTO_MODEL_NAME` whose folder holds the
pickled :class:`ScoringModel` and any extra files (the drift reference), and whose metadata is
a :class:`ModelMetadata`: everything the service and the monitoring need to know about it.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel, Field

from loan_default.decision import DecisionPolicy
from loan_default.errors import IntegrityError
from loan_default.fairness import FairnessRow
from loan_default.model import RiskThresholds, ScoringModel
from loan_default.schema import INPUT_FIELDS, schema_fingerprint
from loan_default.training_metrics import TrainingMetrics

BENTO_MODEL_NAME = "loan_default"
MODEL_FILE = "scoring_model.pkl"


class ThresholdSettings(BaseModel):
    """Probability cut-offs stored with a model."""

    medium: float = Field(0.3, description="LOW < medium <= MEDIUM.")
    high: float = Field(0.7, description="MEDIUM < high <= HIGH.")
    decision: float = Field(
        0.5, description="Operating threshold at which precision/recall/F1 were measured."
    )

    def risk(self) -> RiskThresholds:
        return RiskThresholds(self.medium, self.high)


class ModelMetadata(BaseModel):
    """What is known about a registered model: its lineage, schema, thresholds and metrics."""

    name: str = BENTO_MODEL_NAME
    version: str = Field(..., description="The Bento model version (the tag after ':').")
    algorithm: str
    created_at: datetime
    schema_fingerprint: str = Field(default_factory=schema_fingerprint)
    input_fields: list[str] = Field(default_factory=lambda: [f.name for f in INPUT_FIELDS])
    feature_names: list[str]
    thresholds: ThresholdSettings = Field(default_factory=lambda: ThresholdSettings())
    training_metrics: TrainingMetrics = Field(default_factory=TrainingMetrics)
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    data_hash: str
    data_rows: int
    data_source: str | None = None
    feature_views: dict[str, str] = Field(
        default_factory=dict,
        description="Feature store views joined into the training set at each application's "
        "date (view -> ``name@fingerprint``); empty when trained without the store.",
    )
    git_commit: str | None = None
    mlflow_run_id: str | None = None
    mlflow_model_name: str | None = None
    mlflow_model_version: str | None = None
    decision_policy: DecisionPolicy | None = Field(
        None,
        description="Approve / refer / decline cuts chosen at training (loan_default.decision);"
        " None for models registered before policies existed: they decide by their risk bands "
        "(policy()) and cannot be promoted.",
    )
    fairness: list[FairnessRow] = Field(
        default_factory=list,
        description="Fairness at the decision, per protected attribute and group, measured at "
        "training (hold-out rows when kept, else out-of-fold); empty for older models.",
    )
    fairness_measured_on: str | None = Field(None, description="Which rows 'fairness' describes.")
    artifact_sha256: str | None = Field(
        None,
        description="SHA-256 of the pickled model file, recorded at registration and checked "
        "before the file is unpickled (a tampered pickle can run any code).",
    )

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"

    def policy(self) -> DecisionPolicy:
        """The recorded decision policy, else the risk-band fallback (LOW approve, MEDIUM
        refer, HIGH decline) of a model trained before policies existed."""
        if self.decision_policy is not None:
            return self.decision_policy
        return DecisionPolicy.from_risk_bands(self.thresholds.medium, self.thresholds.high)


def new_version(now: datetime | None = None) -> str:
    """A sortable, tag-safe model version such as ``v20261123-233800-1a2b``."""
    now = now or datetime.now(UTC)
    return f"v{now:%Y%m%d-%H%M%S}-{now.microsecond:06d}"[:-2]


@dataclass(frozen=True)
class LoadedModel:
    """A model taken from the Bento store, with its metadata and folder."""

    model: ScoringModel
    metadata: ModelMetadata
    path: Path

    @property
    def tag(self) -> str:
        return self.metadata.tag


def save_model(
    model: ScoringModel,
    metadata: ModelMetadata,
    *,
    labels: dict[str, str] | None = None,
    write_extra: Callable[[Path], None] | None = None,
    payload: bytes | None = None,
) -> bentoml.Model:
    """Save to the Bento model store under ``loan_default:<metadata.version>``.

    The pickle's SHA-256 goes into the metadata (``artifact_sha256``): :func:`load_model`
    checks it before unpickling.

    Args:
        write_extra: called with the model's folder to write more files (drift reference).
        payload: ``pickle.dumps(model)`` already made (the bytes also logged to MLflow), so
            both stores hold the same bytes under the same digest.
    """
    tag = bentoml.Tag(metadata.name, metadata.version)
    if payload is None:
        payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    metadata = metadata.model_copy(update={"artifact_sha256": sha256_hex(payload)})
    with bentoml.models.create(
        tag,
        labels=labels or {},
        metadata=metadata.model_dump(mode="json", exclude_none=True),
        module=__name__,
    ) as bento_model:
        folder = Path(bento_model.path)
        (folder / MODEL_FILE).write_bytes(payload)
        if write_extra is not None:
            write_extra(folder)
    return bento_model


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_model(tag: str) -> LoadedModel:
    """Load ``loan_default:<version>`` (or any full tag) from the Bento model store.

    Raises:
        IntegrityError: the model file's SHA-256 is not the one recorded at registration (or
            none was recorded): nothing is unpickled.
    """
    bento_model = bentoml.models.get(tag)
    folder = Path(bento_model.path)
    metadata = ModelMetadata.model_validate(dict(bento_model.info.metadata))
    payload = (folder / MODEL_FILE).read_bytes()
    if metadata.artifact_sha256 is None:
        raise IntegrityError(
            f"model {bento_model.tag} has no recorded artifact digest (registered before "
            "integrity checks): retrain it, or re-register it with `loanctl train`"
        )
    if (actual := sha256_hex(payload)) != metadata.artifact_sha256:
        raise IntegrityError(
            f"model {bento_model.tag}: {folder / MODEL_FILE} has SHA-256 {actual[:16]}..., "
            f"registered as {metadata.artifact_sha256[:16]}...: the file was altered after "
            "registration; refusing to load it"
        )
    model = pickle.loads(payload)
    if not isinstance(model, ScoringModel):
        raise TypeError(f"{folder / MODEL_FILE} does not hold a ScoringModel")
    return LoadedModel(model, metadata, folder)
