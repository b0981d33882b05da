"""``loanctl predict``: score a whole file offline with a registered model.

The output holds the valid input rows, in their input order, as canonical columns (the
application ID included when the input has one) with ``default_probability`` and
``risk_category`` added. Rows that fail import or validation are not dropped silently: they are
written to a quarantine file next to the output and counted in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bentoml

from loan_default.data.io import write_table
from loan_default.data.prepare import prepare_dataset
from loan_default.errors import NotFoundError
from loan_default.store import BENTO_MODEL_NAME, load_model
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


def quarantine_path_for(out: Path) -> Path:
    """``scores.csv`` -> ``scores.quarantine.csv`` (same format as the output)."""
    name = out.name
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if name.endswith(suffix):
            return out.with_name(name.removesuffix(suffix) + ".quarantine" + suffix)
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
    tag = resolve_model(model)
    try:
        loaded = load_model(tag)
    except bentoml.exceptions.NotFound:
        raise NotFoundError(f"model {tag!r} is not in the Bento model store") from None
    quarantine = quarantine_path_for(out)
    prepared = prepare_dataset(data, source=source, quarantine_path=quarantine)
    frame = prepared.frame
    probabilities = loaded.model.predict_proba(frame)
    thresholds = loaded.metadata.thresholds.risk()
    scored = frame.assign(
        **{PROBABILITY: probabilities, CATEGORY: thresholds.categories(probabilities)}
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
