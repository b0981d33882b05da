"""``loanctl predict``: score a file or a whole portfolio offline with a registered model.

A Parquet data set (one file or a folder of parts) is scored partition by partition
(:func:`predict_dataset`, see ``loan_default.portfolio``): streamed in this process with one
partition in memory at a time, or on a Dask cluster (``--cluster``), into a folder of Parquet
parts in input order. A CSV/TSV file takes the single-file path (:func:`predict_file`), read
whole.

The single-file output holds the valid input rows, in their input order, as canonical columns (the
application ID included when the input has one) with ``default_probability``,
``risk_category`` and ``decision`` added. Rows that fail import or validation are not dropped
silently: they are written to a quarantine file next to the output and counted in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bentoml

from loan_default.data.io import OUTPUT_FORMATS, output_format, write_table
from loan_default.data.prepare import prepare_dataset
from loan_default.errors import NotFoundError
from loan_default.store import BENTO_MODEL_NAME, LoadedModel, load_model
from training import registry

PROBABILITY = "default_probability"
CATEGORY = "risk_category"


@dataclass(frozen=True, slots=True)
class PredictionResult:
    out: Path
    rows: int
    quarantined: int
    quarantine_path: Path | None
    bento_tag: str


def resolve_model(ref: str | None) -> str:
    """The Bento tag to score with: ``ref`` (MLflow version, alias or Bento tag), else the
    champion, else the challenger; ``NotFoundError`` when there is none."""
    if ref is not None:
        try:
            mv = registry.find_version(ref, registry.client())
        except NotFoundError:
            if ":" in ref or ref.startswith("v"):  # a Bento model never registered in MLflow
                return ref if ":" in ref else f"{BENTO_MODEL_NAME}:{ref}"
            raise
        return str(mv.tags[registry.BENTO_TAG])
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        if tag := registry.resolve_alias(alias):
            return tag
    raise NotFoundError(
        f"no model to score with: {registry.MODEL_NAME!r} has neither a champion nor a "
        "challenger; train one (`loanctl train`) or pass --model"
    )


def load_registered(ref: str | None) -> LoadedModel:
    """The model to score with (see :func:`resolve_model`), loaded from the Bento store."""
    tag = resolve_model(ref)
    try:
        return load_model(tag)
    except bentoml.exceptions.NotFound:
        raise NotFoundError(f"model {tag!r} is not in the Bento model store") from None


def quarantine_path_for(out: Path) -> Path:
    """``scores.csv`` -> ``scores.quarantine.csv`` (same format as the output)."""
    name = out.name
    for suffix in sorted(OUTPUT_FORMATS, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return out.with_name(name[: -len(suffix)] + ".quarantine" + name[-len(suffix) :])
    return out.with_name(name + ".quarantine.parquet")


def predict_file(
    data: str | Path,
    *,
    out: str | Path,
    source: str | None = None,
    model: str | None = None,
) -> PredictionResult:
    """Validate ``data``, score the valid rows and write them with their scores to ``out``.

    Raises:
        NotFoundError: no such model. InputError/DataValidationError: bad file or data.
    """
    out = Path(out)
    output_format(out)  # an unknown ending fails before any work
    loaded = load_registered(model)
    tag = loaded.tag
    quarantine = quarantine_path_for(out)
    prepared = prepare_dataset(data, source=source, quarantine_path=quarantine)
    frame = prepared.frame
    probabilities = loaded.model.predict_proba(frame)
    thresholds = loaded.metadata.thresholds.risk()
    scored = frame.assign(
        **{
            PROBABILITY: probabilities,
            CATEGORY: thresholds.categories(probabilities),
            "decision": loaded.metadata.policy().decisions(probabilities),
        }
    )
    if scored["application_id"].isna().all():
        scored = scored.drop(columns=["application_id"])
    write_table(scored, out)
    return PredictionResult(
        out=out,
        rows=len(scored),
        quarantined=prepared.rows_quarantined,
        quarantine_path=prepared.quarantine_path,
        bento_tag=tag,
    )
