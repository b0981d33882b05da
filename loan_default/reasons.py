"""Adverse-action reason codes: the one table (field -> statement) and the principal reasons.

The table lives in ``configs/reasons.yaml`` (wording people edit with their compliance team) and
is read here, in the core, so serving, training's gates and the model card use the same one:

* :func:`reason_codes` loads it (``ConfigError`` naming the file and the entry when malformed);
* :func:`reason_code_table` gives its rows for a report (field, both statements, and which
  model features fold into the field);
* :func:`validate_reason_codes` lists the problems of a model's features against it (empty
  when every scored feature maps to a field with both statements): a promotion gate;
* :func:`principal_reasons` picks an applicant's reasons from folded per-field contributions
  (:func:`loan_default.attribution.fold_contributions`): the fields that raised the risk most,
  each once; a field the applicant did not give only when its absence raised the risk
  materially, worded as such.

Regulation B asks for the principal reasons from the factors actually scored (at most four).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loan_default.attribution import FieldContributions, unknown_features
from loan_default.derived import feature_sources
from loan_default.errors import ConfigError

REASONS_PATH = Path(__file__).resolve().parents[1] / "configs" / "reasons.yaml"
"""The table's default location (``LOAN_REASONS_PATH`` overrides it for the service)."""


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """The two adverse-action statements of one application field."""

    field: str
    reason: str
    """The field's value raised the predicted risk."""
    missing: str
    """The field was not given, and the model's treatment of its absence raised the risk."""


@dataclass(frozen=True)
class ReasonCodes:
    """The reason-code table and the materiality rule for missing fields.

    Args:
        codes: per application field, its statements.
        missing_material_share: a field that was not given is cited only when its contribution
            is at least this share of the applicant's total adverse contribution.
        source: where the table came from (for messages).
    """

    codes: Mapping[str, ReasonCode]
    missing_material_share: float = 0.10
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if not 0.0 <= self.missing_material_share <= 1.0:
            raise ConfigError(
                f"{self.source}: missing_material_share must lie in [0, 1], "
                f"got {self.missing_material_share}"
            )


def _text(path: Path, field: str, entry: Mapping[str, Any], key: str) -> str:
    text = entry.get(key)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{path}: reasons.{field}.{key} must be a non-empty string")
    return text.strip()


def reason_codes(path: str | Path | None = None) -> ReasonCodes:
    """Read the reason-code table (default ``configs/reasons.yaml``).

    Raises:
        ConfigError: unreadable file, or an entry without both statements (named).
    """
    p = Path(path) if path is not None else REASONS_PATH
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read adverse-action reasons ({exc})") from None
    entries = data.get("reasons") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f"{p}: expected a mapping 'reasons: {{field: {{reason, missing}}}}'")
    codes = {}
    for field, entry in entries.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{p}: reasons.{field} must have 'reason' and 'missing' statements")
        codes[str(field)] = ReasonCode(
            str(field), _text(p, field, entry, "reason"), _text(p, field, entry, "missing")
        )
    share = data.get("missing_material_share", 0.10)
    if isinstance(share, bool) or not isinstance(share, int | float):
        raise ConfigError(f"{p}: missing_material_share must be a number, got {share!r}")
    return ReasonCodes(codes, float(share), str(p))


def validate_reason_codes(
    feature_names: Sequence[str], codes: ReasonCodes | None = None
) -> list[str]:
    """Problems of a model's features against the reason-code table; empty when valid.

    Every scored feature must map to source fields (:func:`loan_default.features.
    feature_sources`) and every such field must have its statements in the table.

    Args:
        feature_names: the model's features (``ModelMetadata.feature_names``).
        codes: the table (default: :func:`reason_codes` of ``configs/reasons.yaml``).
    """
    if codes is None:
        try:
            codes = reason_codes()
        except ConfigError as exc:
            return [str(exc)]
    problems = [
        f"model feature {name!r} has no known source field (not a canonical or derived feature)"
        for name in unknown_features(feature_names)
    ]
    sources = feature_sources()
    fields: dict[str, list[str]] = {}
    for name in feature_names:
        for field in sources.get(name, ()):
            fields.setdefault(field, []).append(name)
    for field, features in fields.items():
        if field not in codes.codes:
            problems.append(
                f"field {field!r} (scored through {', '.join(features)}) has no reason code "
                f"in {codes.source}"
            )
    return problems


def reason_code_table(
    feature_names: Sequence[str] | None = None, codes: ReasonCodes | None = None
) -> list[dict[str, str]]:
    """The table as rows (for the model card): ``field``, ``reason``, ``missing_reason`` and
    ``features`` (the model features that fold into the field, comma-separated).

    Args:
        feature_names: the model's features; default: every field of the table, ``features``
            from the feature engineering's full output.
        codes: the table (default: :func:`reason_codes`).
    """
    codes = codes or reason_codes()
    sources = feature_sources()
    names = list(feature_names) if feature_names is not None else list(sources)
    folded: dict[str, list[str]] = {}
    for name in names:
        for field in sources.get(name, ()):
            folded.setdefault(field, []).append(name)
    shown = [f for f in codes.codes if feature_names is None or f in folded]
    return [
        {
            "field": field,
            "reason": codes.codes[field].reason,
            "missing_reason": codes.codes[field].missing,
            "features": ", ".join(folded.get(field, [])),
        }
        for field in shown
    ]


def _json_value(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) or value is None else str(value)


def principal_reasons(
    folded: FieldContributions,
    row: int,
    application: Mapping[str, Any],
    codes: ReasonCodes,
    *,
    limit: int = 4,
) -> list[dict[str, Any]]:
    """An applicant's principal reasons: ``feature`` (the field), ``value``, ``contribution``,
    ``reason``; largest contribution first, each field once, at most ``limit``.

    A given field is cited when its folded contribution is positive. A field that was not
    given is cited (with its ``missing`` statement and a null value) only when its
    contribution is at least ``codes.missing_material_share`` of the row's total adverse
    (positive) contribution; otherwise it is not cited at all.

    Args:
        folded: per-field contributions of the applications.
        row: which application of ``folded``.
        application: that application as validated (values are reported as sent).
        codes: the reason-code table.
        limit: how many reasons at most.
    """
    values = folded.values[row]
    adverse = float(values[values > 0].sum())
    floor = codes.missing_material_share * adverse
    chosen = []
    for k, field in enumerate(folded.fields):
        c = float(values[k])
        if c <= 0:
            continue
        code = codes.codes[field]
        if folded.given[row, k]:
            chosen.append((c, field, _json_value(application.get(field)), code.reason))
        elif c >= floor:
            chosen.append((c, field, None, code.missing))
    chosen.sort(key=lambda item: -item[0])  # stable: schema order breaks ties
    return [
        {"feature": field, "value": value, "contribution": c, "reason": text}
        for c, field, value, text in chosen[:limit]
    ]
