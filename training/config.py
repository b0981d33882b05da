"""Training configuration: the YAML people edit (``configs/training.yaml``) and the settings.

The YAML holds the candidates, their hyper-parameters and search spaces, the cross-validation
and calibration choices. It is parsed into :class:`TrainingConfig`, a strict pydantic model:
an unknown key, an unknown algorithm or a negative fold count is a :class:`ConfigError`
naming the file, the key and the rule it broke (``loanctl`` prints it as one ``error:`` line,
exit code 2).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from loan_default.errors import ConfigError
from loan_default.fairness import FairnessRules
from loan_default.settings import LoanSettings
from training.decision import DecisionRules

_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class TrainingSettings(LoanSettings):
    """Where training finds its configuration and writes its runs (``LOAN_*`` variables)."""

    model_config = SettingsConfigDict(env_prefix="LOAN_", env_file=".env", extra="ignore")

    training_config: Path = Field(
        _CONFIGS / "training.yaml",
        description="Candidates, search spaces, CV and calibration (YAML).",
    )
    runs_dir: Path | None = Field(
        None, description="Folder of training run reports (default: <home>/runs)."
    )
    experiment: str = Field(
        "loan_default", description="MLflow experiment that receives the training runs."
    )
    feature_store_join: bool = Field(
        False,
        description="Fill the training rows' missing bureau fields from the feature store "
        "(LOAN_FEATURE_REPO_DIR), point-in-time correct at each application's date "
        "(LOAN_FEATURE_STORE_JOIN).",
    )

    @property
    def runs_path(self) -> Path:
        return self.runs_dir or self.home / "runs"


class Algorithm(StrEnum):
    """The model families training can compare, simplest first (the tie-break order).

    A scorecard counts as the simplest: one coefficient per characteristic over a few monotone
    bins, read directly as points. A blend of calibrated scores is the most complex.
    """

    SCORECARD = "scorecard"
    LOGISTIC_REGRESSION = "logistic_regression"
    DECISION_TREE = "decision_tree"
    RANDOM_FOREST = "random_forest"
    LIGHTGBM = "lightgbm"
    BLEND = "blend"

    @property
    def complexity(self) -> int:
        """Rank used to break ties: lower is simpler."""
        return list(Algorithm).index(self)


class Imbalance(StrEnum):
    """How the minority class (defaults) is given weight."""

    NONE = "none"
    CLASS_WEIGHT = "class_weight"
    """``class_weight='balanced'`` (LightGBM: ``is_unbalance``-equivalent weights)."""
    SMOTE = "smote"
    """Synthetic minority over-sampling inside each training fold (imbalanced-learn)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CandidateConfig(_Strict):
    """One candidate pipeline: an algorithm, an imbalance strategy and its parameters."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", description="Unique name in reports and MLflow.")
    algorithm: Algorithm
    imbalance: Imbalance = Imbalance.CLASS_WEIGHT
    params: dict[str, Any] = Field(
        default_factory=dict, description="Estimator keyword arguments (override defaults)."
    )
    search: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Values to sample per parameter in the hyper-parameter search.",
    )
    smote_k_neighbors: int = Field(5, ge=1, le=50)
    smote_ratio: float = Field(
        0.5, gt=0.0, le=1.0, description="SMOTE: minority rows after resampling / majority rows."
    )
    monotone: dict[str, Literal[-1, 0, 1]] = Field(
        default_factory=dict,
        description="LightGBM and scorecard: risk directions added to FeatureEngineer."
        "monotone_constraints() (feature name -> +1 risk never falls as it rises, -1 never "
        "rises, 0 free). The shipped config gives both the same directions (a YAML anchor).",
    )
    special_codes: dict[str, list[float]] = Field(
        default_factory=dict,
        description="Scorecard: per feature, values binned apart from the rest (missing "
        "values always get a bin of their own).",
    )
    parts: list[str] = Field(
        default_factory=list,
        description="Blend: the names of the candidates whose calibrated scores are averaged.",
    )
    weights: list[float] = Field(
        default_factory=list,
        description="Blend: one weight per part (default equal); normalised to sum to 1.",
    )

    @model_validator(mode="after")
    def _check_monotone(self) -> CandidateConfig:
        if self.monotone and self.algorithm not in (Algorithm.LIGHTGBM, Algorithm.SCORECARD):
            raise ValueError("monotone constraints apply to lightgbm and scorecard candidates")
        if self.special_codes and self.algorithm is not Algorithm.SCORECARD:
            raise ValueError("special_codes apply to scorecard candidates only")
        if self.algorithm is Algorithm.SCORECARD and self.imbalance is Imbalance.SMOTE:
            raise ValueError("a scorecard bins real rows only: imbalance must not be smote")
        if self.algorithm is Algorithm.BLEND:
            if len(self.parts) < 2:
                raise ValueError("a blend needs at least two parts")
            if self.weights and (
                len(self.weights) != len(self.parts)
                or min(self.weights) < 0
                or sum(self.weights) <= 0
            ):
                raise ValueError("blend weights: one non-negative weight per part, not all 0")
        elif self.parts or self.weights:
            raise ValueError("parts and weights apply to blend candidates only")
        from loan_default.derived import DERIVED, INTERACTIONS
        from loan_default.schema import FEATURE_FIELDS

        known = {f.name for f in FEATURE_FIELDS} | {d.name for d in (*DERIVED, *INTERACTIONS)}
        unknown = sorted((set(self.monotone) | set(self.special_codes)) - known)
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}")
        return self


class SearchConfig(_Strict):
    """Random search of the candidates that declare a ``search`` space."""

    budget_seconds: float = Field(
        60.0, ge=0, description="Wall-clock budget for all searches; 0 turns the search off."
    )
    max_trials: int = Field(12, ge=1, description="At most this many sampled settings each.")
    folds: int = Field(3, ge=2, le=20, description="CV folds of a search trial.")
    max_rows: int = Field(
        20_000, ge=100, description="Trials run on a stratified sample of at most this size."
    )


class CalibrationConfig(_Strict):
    """Calibration of the champion's probabilities on its out-of-fold predictions."""

    method: Literal["isotonic", "platt", "auto"] = Field(
        "auto", description="auto: the lower cross-fitted Brier score of the two."
    )


class TrainingConfig(_Strict):
    """Everything ``loanctl train`` is told by ``configs/training.yaml``."""

    seed: int = 42
    folds: int = Field(5, ge=2, le=20, description="Stratified CV folds per candidate.")
    test_size: float = Field(
        0.2,
        ge=0.0,
        lt=0.9,
        description="Stratified hold-out share for the final validation report (0: none).",
    )
    n_jobs: int = Field(
        2, ge=1, description="Folds fitted in parallel (threads; each estimator uses one core)."
    )
    decision: DecisionRules = Field(
        default_factory=lambda: DecisionRules(),
        description="How the approve / refer / decline cuts are chosen (training.decision); "
        "precision, recall, F1 and the confusion matrix are measured at the approve cut.",
    )
    fairness: FairnessRules = Field(
        default_factory=lambda: FairnessRules(),
        description="Protected attributes screened at the decision, for every candidate.",
    )
    risk_medium: float = Field(0.3, gt=0.0, lt=1.0)
    risk_high: float = Field(0.7, gt=0.0, lt=1.0)
    candidates: list[CandidateConfig] = Field(min_length=1)
    search: SearchConfig = Field(default_factory=lambda: SearchConfig())
    calibration: CalibrationConfig = Field(default_factory=lambda: CalibrationConfig())
    final_fit: Literal["all_rows", "training_rows"] = Field(
        "all_rows",
        description="Rows the registered model is fitted on once the hold-out has given its "
        "estimate: all_rows (training + hold-out; the hold-out figures then describe the "
        "same recipe fitted on fewer rows) or training_rows (the model the hold-out scored).",
    )
    importance_repeats: int = Field(
        3, ge=1, le=20, description="Shuffles per field in the permutation importance."
    )

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        names = [c.name for c in self.candidates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"candidate names must be unique, repeated: {duplicates}")
        if not self.risk_medium < self.risk_high:
            raise ValueError("risk_medium must be below risk_high")
        for cand in self.candidates:
            unknown = [p for p in cand.parts if p not in names]
            blends = [p for p in cand.parts if p in names and self.candidate(p).parts]
            if unknown or blends:
                raise ValueError(
                    f"candidate {cand.name}: blend parts must be configured, non-blend "
                    f"candidates (unknown {unknown}, blends {blends})"
                )
        return self

    def candidate(self, name: str) -> CandidateConfig:
        for cand in self.candidates:
            if cand.name == name:
                return cand
        raise ConfigError(
            f"no candidate named {name!r}; configured: {[c.name for c in self.candidates]}"
        )

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "training config") -> TrainingConfig:
        """Validate a parsed YAML document; ``ConfigError`` naming the first broken rule."""
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: expected a mapping at the top level, got {data!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            value = err.get("input")
            shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
            raise ConfigError(f"{origin}: {where}: {err['msg']}{shown}") from None

    @classmethod
    def load(cls, path: str | Path | None = None) -> TrainingConfig:
        """Read a YAML file (default: ``TrainingSettings().training_config``)."""
        path = Path(path) if path is not None else TrainingSettings().training_config
        if not path.is_file():
            raise ConfigError(f"training config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"training config {path} is not valid YAML: {exc}") from None
        return cls.from_dict(data, origin=str(path))
