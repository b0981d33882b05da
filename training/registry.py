"""The model registry: MLflow registered model ``loan_default`` plus the Bento model store.

Each MLflow version carries the tag ``bento_tag=loan_default:<version>`` (the same model in the
Bento store, whose metadata holds the MLflow version back). Aliases replace stages:

* ``challenger``: set by every training run (training never promotes);
* ``champion``: moved by :func:`promote`; the service and the monitoring resolve it with
  :func:`resolve_alias`;
* ``previous-champion``: the champion a promotion replaced, so :func:`rollback` can return.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import bentoml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from loan_default.aliases import (
    BENTO_TAG,
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    PREVIOUS,
    client,
)
from loan_default.aliases import by_alias as _by_alias
from loan_default.aliases import resolve_alias as resolve_alias  # re-exported
from loan_default.errors import NotFoundError
from loan_default.settings import LoanSettings
from loan_default.store import BENTO_MODEL_NAME
from loan_default.training_metrics import TrainingMetrics


def register(model_uri: str, *, run_id: str, bento_tag: str, mlflow_client: MlflowClient) -> str:
    """Register a logged model as a new version, tag it and make it the ``challenger``."""
    try:
        mlflow_client.get_registered_model(MODEL_NAME)
    except MlflowException:
        mlflow_client.create_registered_model(
            MODEL_NAME, description="Probability of loan default (calibrated); see README."
        )
    mv = mlflow_client.create_model_version(
        MODEL_NAME, source=model_uri, run_id=run_id, tags={BENTO_TAG: bento_tag}
    )
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHALLENGER, mv.version)
    return str(mv.version)


def find_version(ref: str, mlflow_client: MlflowClient) -> Any:
    """A version by MLflow number, alias, Bento tag or Bento version; ``NotFoundError``."""
    if ref.isdigit():
        try:
            return mlflow_client.get_model_version(MODEL_NAME, ref)
        except MlflowException:
            raise NotFoundError(f"model {MODEL_NAME!r} has no version {ref}") from None
    if (mv := _by_alias(ref, mlflow_client)) is not None:
        return mv
    tag = ref if ":" in ref else f"{BENTO_MODEL_NAME}:{ref}"
    found = mlflow_client.search_model_versions(
        f"name = '{MODEL_NAME}' and tags.{BENTO_TAG} = '{tag}'"
    )
    if not found:
        raise NotFoundError(
            f"no registered version {ref!r} (an MLflow version number, alias or Bento tag)"
        )
    return found[0]


def promote(ref: str, settings: LoanSettings | None = None) -> str:
    """Make version ``ref`` the champion; the replaced champion becomes previous-champion.

    Returns the Bento tag of the new champion.
    """
    c = client(settings)
    mv = find_version(ref, c)
    current = _by_alias(CHAMPION, c)
    if current is not None and current.version != mv.version:
        c.set_registered_model_alias(MODEL_NAME, PREVIOUS, current.version)
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, mv.version)
    return str(mv.tags.get(BENTO_TAG))


def rollback(settings: LoanSettings | None = None) -> str:
    """Give ``champion`` back to the previous champion (the two swap); returns its Bento tag."""
    c = client(settings)
    previous = _by_alias(PREVIOUS, c)
    if previous is None:
        raise NotFoundError(f"model {MODEL_NAME!r} has no {PREVIOUS!r} alias to roll back to")
    current = _by_alias(CHAMPION, c)
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, previous.version)
    if current is not None and current.version != previous.version:
        c.set_registered_model_alias(MODEL_NAME, PREVIOUS, current.version)
    return str(previous.tags.get(BENTO_TAG))


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """One row of ``loanctl models list``: an MLflow version and its Bento model."""

    mlflow_version: str | None
    aliases: tuple[str, ...]
    bento_tag: str | None
    created: str
    roc_auc: float | None
    data_hash: str | None
    in_bento_store: bool


def _row(
    mv: Any | None, tag: str | None, bento: Any | None, aliases: tuple[str, ...] = ()
) -> RegisteredModel:
    meta: dict[str, Any] = dict(bento.info.metadata) if bento is not None else {}
    metrics = TrainingMetrics.model_validate(meta.get("training_metrics") or {})
    auc = metrics.baseline("roc_auc")
    created = str(meta.get("created_at", ""))[:19]
    if not created and mv is not None:
        created = _ms(mv.creation_timestamp)
    return RegisteredModel(
        mlflow_version=None if mv is None else str(mv.version),
        aliases=aliases,
        bento_tag=tag,
        created=created,
        roc_auc=None if auc is None else float(auc),
        data_hash=None if meta.get("data_hash") is None else str(meta["data_hash"]),
        in_bento_store=bento is not None,
    )


def list_models(settings: LoanSettings | None = None) -> list[RegisteredModel]:
    """Both stores side by side, newest first; models present in only one store included."""
    c = client(settings)
    versions: list[Any] = []
    by_version: dict[str, list[str]] = {}
    with contextlib.suppress(MlflowException):
        versions = list(c.search_model_versions(f"name = '{MODEL_NAME}'"))
        # search_model_versions leaves aliases empty: the registered model holds them.
        for alias, number in c.get_registered_model(MODEL_NAME).aliases.items():
            by_version.setdefault(str(number), []).append(alias)
    bentos = {str(m.tag): m for m in bentoml.models.list(BENTO_MODEL_NAME)}
    rows = []
    for mv in versions:
        tag = mv.tags.get(BENTO_TAG)
        aliases = tuple(sorted(by_version.get(str(mv.version), [])))
        rows.append(_row(mv, tag, bentos.pop(tag, None) if tag else None, aliases))
    rows.extend(_row(None, tag, bento) for tag, bento in bentos.items())
    return sorted(rows, key=lambda r: r.created, reverse=True)


def _ms(timestamp: int | None) -> str:
    from datetime import UTC, datetime

    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
