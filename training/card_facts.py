"""Gathering a model card's facts from the two stores (``loanctl models card VERSION``).

The Bento model holds the metadata and, since registration, ``card/`` (calibration plot,
validation report); the MLflow version holds the governance tags (status, approvals) and its
run the training-data file. Anything missing is left out and the card says "not recorded".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bentoml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from loan_default.aliases import BENTO_TAG, MODEL_NAME
from loan_default.errors import NotFoundError
from loan_default.settings import LoanSettings
from loan_default.store import BENTO_MODEL_NAME
from training.card import CALIBRATION_PNG, CARD_DIR, VALIDATION_JSON, CardFacts, write_card
from training.registry import client, find_version

REASONS_FILE = Path(__file__).resolve().parents[1] / "configs" / "reasons.yaml"


def reason_rows(feature_names: list[str], path: Path | None = None) -> list[dict[str, str]]:
    """The reason-code table for a model's features (:func:`loan_default.reasons.
    reason_code_table`: field, the features folded into it, both statements), from
    ``LOAN_REASONS_PATH`` or ``configs/reasons.yaml``. An unreadable table gives [] (the card
    then says "not recorded")."""
    from loan_default.errors import ConfigError
    from loan_default.reasons import reason_code_table, reason_codes

    p = path or Path(os.environ.get("LOAN_REASONS_PATH") or REASONS_FILE)
    try:
        return reason_code_table(feature_names, reason_codes(p))
    except ConfigError:
        return []


def _aliases(mlflow_client: MlflowClient, version: str) -> list[str]:
    try:
        aliases = mlflow_client.get_registered_model(MODEL_NAME).aliases
    except MlflowException:
        return []
    return sorted(a for a, v in aliases.items() if str(v) == version)


def _data_file(mlflow_client: MlflowClient, run_id: str | None) -> str | None:
    if not run_id:
        return None
    try:
        run = mlflow_client.get_run(run_id)
    except MlflowException:
        return None
    if tag := run.data.tags.get("data_file"):
        return str(tag)
    for item in getattr(run.inputs, "dataset_inputs", None) or []:
        source = getattr(item.dataset, "source", None)
        try:
            return str(json.loads(source).get("uri") or source) if source else None
        except (json.JSONDecodeError, AttributeError):
            return str(source)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def gather(ref: str, settings: LoanSettings | None = None) -> CardFacts:
    """The facts of the version ``ref`` (MLflow number, alias, Bento tag or version).

    Raises:
        NotFoundError: no such version in either store.
    """
    mlflow_client = client(settings)
    mv: Any | None = None
    try:
        mv = find_version(ref, mlflow_client)
        tag = str(mv.tags.get(BENTO_TAG) or "")
    except NotFoundError:
        if ref.isdigit():
            raise
        tag = ref if ":" in ref else f"{BENTO_MODEL_NAME}:{ref}"
    try:
        bento = bentoml.models.get(tag)
    except (bentoml.exceptions.NotFound, ValueError):
        raise NotFoundError(
            f"model {ref!r}: {tag or 'its Bento model'} is not in the Bento model store"
        ) from None
    folder = Path(bento.path) / CARD_DIR
    metadata = dict(bento.info.metadata)
    validation = None
    if (folder / VALIDATION_JSON).is_file():
        validation = json.loads((folder / VALIDATION_JSON).read_text())
    png = folder / CALIBRATION_PNG
    version = None if mv is None else str(mv.version)
    return CardFacts(
        metadata=metadata,
        mlflow_version=version or _text(metadata.get("mlflow_model_version")),
        mlflow_tags={} if mv is None else {str(k): str(v) for k, v in mv.tags.items()},
        aliases=_aliases(mlflow_client, version) if version else [],
        reasons=reason_rows(_names(metadata.get("feature_names"))),
        validation=validation,
        calibration_png=png.read_bytes() if png.is_file() else None,
        data_file=_data_file(mlflow_client, _text(metadata.get("mlflow_run_id"))),
    )


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def write_model_card(
    ref: str, out: Path, settings: LoanSettings | None = None
) -> tuple[Path, Path]:
    """Write the card of ``ref`` into ``out``; returns (Markdown, HTML) paths."""
    facts = gather(ref, settings)
    stem = f"model_card-{facts.metadata.get('version', ref)}"
    return write_card(facts, out, stem=stem)
