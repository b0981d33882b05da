"""Source mappings as declared in YAML (``configs/sources/NAME.yaml``): their model and loading.

A mapping names, for each canonical field, where its value comes from and the ``steps`` that
turn it into the field (:mod:`loan_default.data.source_rules`); :mod:`loan_default.data.sources`
applies it to a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loan_default.data.io import DataSettings
from loan_default.data.source_rules import Step, parse_step
from loan_default.errors import ConfigError
from loan_default.schema import FIELDS, FIELDS_BY_NAME, REQUIRED_FIELDS, FieldSpec, Role

DEFAULT_MISSING = ("", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "none")


class FieldMapping(BaseModel):
    """Where one canonical field comes from and how its values are converted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str | None = Field(None, description="Source column holding the value.")
    ratio: tuple[str, str] | None = Field(
        None, description="[numerator, denominator] columns; a zero or missing denominator "
        "gives missing.",
    )  # fmt: skip
    constant: Any = Field(None, description="One value for every row.")
    steps: list[Step] = Field(default_factory=list, description="Rules applied in order.")
    optional: bool = Field(
        False, description="The source column may be absent from a file (then all missing)."
    )
    invalid: Literal["missing", "quarantine"] | None = Field(
        None, description="What an invalid value does; default: quarantine for the ID, the "
        "label and required fields, missing otherwise.",
    )  # fmt: skip

    @field_validator("steps", mode="before")
    @classmethod
    def _parse_steps(cls, value: Any) -> list[Step]:
        if not isinstance(value, list):
            raise ValueError("steps must be a list of rules")
        return [parse_step(item) for item in value]

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        given = [
            name for name in ("column", "ratio", "constant") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(f"give exactly one of column, ratio, constant (got {given or 'none'})")
        return self

    def columns(self) -> tuple[str, ...]:
        """Source columns this field reads."""
        if self.column is not None:
            return (self.column,)
        return self.ratio or ()


class SourceMapping(BaseModel):
    """A whole source table's mapping onto the canonical schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Short name, used in reports and the data lineage.")
    description: str = Field("", description="What the table is and where it comes from.")
    missing_values: tuple[str, ...] = Field(
        DEFAULT_MISSING, description="Cell texts meaning 'unknown' in every column, besides "
        "blanks (not counted as unparseable).",
    )  # fmt: skip
    fields: dict[str, FieldMapping] = Field(description="Canonical field name -> its mapping.")

    @field_validator("fields", mode="before")
    @classmethod
    def _known_targets(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("fields must map canonical field names to mappings")
        unknown = sorted(set(value) - set(FIELDS_BY_NAME))
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(FIELDS_BY_NAME)}"
            )
        required = [spec.name for spec in REQUIRED_FIELDS if spec.name not in value]
        if required:
            raise ValueError(f"required field(s) {', '.join(map(repr, required))} not mapped")
        # A bare string is a plain rename: `client_income: Client_Income`.
        return {k: {"column": v} if isinstance(v, str) else v for k, v in value.items()}

    def quarantines(self, spec: FieldSpec) -> bool:
        """Whether an invalid value of ``spec`` sends its row to the quarantine."""
        policy = self.fields[spec.name].invalid
        if policy is not None:
            return policy == "quarantine"
        return spec.required or spec.role in (Role.IDENTIFIER, Role.LABEL)


def _format_error(origin: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "top level"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return f"{origin}: invalid source mapping: " + "; ".join(problems)


def load_mapping(name_or_path: str | Path) -> SourceMapping:
    """A source mapping by name (``configs/sources/NAME.yaml``) or path to a YAML file.

    The name ``canonical`` is built in: the identity mapping of :func:`canonical_mapping`.

    Raises:
        ConfigError: no such mapping, unreadable YAML, or a mapping that breaks the rules
            (unknown rule or canonical field, missing origin, ...), naming the problem.
    """
    text = str(name_or_path)
    sources_dir = DataSettings().sources_dir
    path = Path(text)
    if not text.endswith((".yaml", ".yml")) and "/" not in text:
        path = sources_dir / f"{text}.yaml"
    if text == "canonical" and not path.is_file():
        return canonical_mapping()
    if not path.is_file():
        known = sorted(["canonical", *(p.stem for p in sources_dir.glob("*.yaml"))])
        raise ConfigError(f"unknown source {text!r}: no file {path} (known: {', '.join(known)})")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML ({exc})") from exc
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: a source mapping must be a YAML mapping")
    content.setdefault("name", path.stem)
    try:
        return SourceMapping.model_validate(content)
    except ValidationError as exc:
        raise ConfigError(_format_error(str(path), exc)) from exc


def canonical_mapping() -> SourceMapping:
    """The identity mapping of a file already in canonical form (column = field name)."""
    fields = {spec.name: {"column": spec.name, "optional": not spec.required} for spec in FIELDS}
    return SourceMapping.model_validate({"name": "canonical", "fields": fields})
