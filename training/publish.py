"""After the comparison: write the run folder, track in MLflow, register in both stores."""

from __future__ import annotations

import json
import pickle
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from loan_default.data.prepare import PreparedDataset
from loan_default.decision import DecisionPolicy
from loan_default.fairness import FairnessRow, fairness_metrics
from loan_default.model import ScoringModel
from loan_default.reference import build_reference
from loan_default.schema import LABEL
from loan_default.scorecard import WoEScorecard
from loan_default.security.guard import record_control
from loan_default.security.rbac import actor
from loan_default.store import (
    BENTO_MODEL_NAME,
    ModelMetadata,
    ThresholdSettings,
    save_model,
    sha256_hex,
)
from loan_default.training_metrics import TrainingMetrics
from training import card, registry, reports, scorecard_report, tracking
from training.blending import weights
from training.candidates import DEFAULT_PARAMS
from training.card_facts import reason_rows
from training.config import TrainingConfig, TrainingSettings
from training.evaluation import CVResult
from training.progress import Progress
from training.selection import RULE


@dataclass
class Champion:
    """The chosen candidate, refitted and calibrated."""

    result: CVResult
    pipeline: Any
    model: ScoringModel
    calibration: str
    calibration_briers: dict[str, float]
    threshold: float
    fitted_rows: int = 0
    """How many labelled rows the registered model was fitted on."""
    fitted_on: str = "training_rows"
    """``training_rows`` (the hold-out excluded) or ``all_rows`` (final fit on every row)."""
    importance: pd.Series | None = None
    """Permutation importance per original field (hold-out rows when there are any)."""
    policy: DecisionPolicy | None = None
    """The decision policy (``training.decision``); ``threshold`` is its approve cut."""
    fairness: list[FairnessRow] = field(default_factory=list)
    """Fairness at the decision (hold-out rows when kept, else out-of-fold)."""
    fairness_measured_on: str | None = None

    def params(self) -> dict[str, Any]:
        cand = self.result.candidate
        return {
            "candidate": cand.name,
            "algorithm": cand.algorithm.value,
            "imbalance": cand.imbalance.value,
            **DEFAULT_PARAMS[cand.algorithm],
            **cand.params,
            **self.result.params,
            **({"monotone": dict(cand.monotone)} if cand.monotone else {}),
            **({"special_codes": dict(cand.special_codes)} if cand.special_codes else {}),
            **({"parts": list(cand.parts), "weights": weights(cand)} if cand.parts else {}),
            "calibration": self.calibration,
            "fitted_on": self.fitted_on,
            "fitted_rows": self.fitted_rows,
        }


@dataclass(frozen=True)
class Published:
    bento_tag: str
    mlflow_version: str
    mlflow_run_id: str
    table: pd.DataFrame


def write_reports(
    run_dir: Path,
    results: list[CVResult],
    champion: Champion,
    y: np.ndarray,
    prepared: PreparedDataset,
) -> pd.DataFrame:
    """The run folder: comparison table (md, csv), plots, validation report, per candidate."""
    run_dir.mkdir(parents=True, exist_ok=True)
    table = reports.comparison_table(results, y, champion.result.name)
    table.to_csv(run_dir / "comparison.csv", index=False)
    fitted = (
        f"\nThe registered model ({champion.result.name}) was fitted on {champion.fitted_rows:,} "
        "labelled rows: "
        + ("all of them (training + hold-out), after the hold-out gave its estimate.\n"
           if champion.fitted_on == "all_rows" else "the training rows (hold-out kept out).\n")
    )  # fmt: skip
    (run_dir / "comparison.md").write_text(reports.markdown(table, RULE) + fitted)
    (run_dir / "validation_report.json").write_text(
        json.dumps(prepared.report.to_dict(), indent=1, default=str)
    )
    best = champion.result
    calibrated = champion.model.calibrator(best.oof) if champion.model.calibrator else best.oof
    reports.plot(run_dir / "roc.png", reports.draw_roc, {r.name: (y, r.oof) for r in results})
    reports.plot(
        run_dir / "calibration.png",
        reports.draw_calibration,
        y,
        {"raw": best.oof, champion.calibration: calibrated},
    )
    importance = champion.importance
    if importance is not None:
        reports.plot(run_dir / "feature_importance.png", reports.draw_importance, importance)
        importance.rename("importance").to_csv(run_dir / "feature_importance.csv")
    card = champion.model.scorecard()
    if card is not None:
        scorecard_report.write(card, champion.model.features, run_dir)
    if champion.policy is not None:
        reports.plot(run_dir / "confusion_matrix.png", reports.draw_confusion, y, calibrated,
                     champion.policy)  # fmt: skip
        (run_dir / "decision_policy.json").write_text(champion.policy.model_dump_json(indent=1))
    by_candidate = {r.name: r.fairness for r in results}
    by_candidate["registered model"] = champion.fairness
    (run_dir / "fairness.md").write_text(
        reports.fairness_markdown(by_candidate, best.name, champion.fairness_measured_on)
    )
    for res in results:
        folder = run_dir / "candidates" / res.name
        reports.candidate_plots(res, y, res.importance, folder)
        fold_card = getattr(res.fold_model, "steps", [(None, None)])[-1][1]
        if isinstance(fold_card, WoEScorecard):
            scorecard_report.write(fold_card, res.fold_model.steps[0][1], folder)
        if res.search_trials:
            (run_dir / "candidates" / res.name / "search.json").write_text(
                json.dumps(res.search_trials, indent=1, default=str)
            )
    return table


def _metadata(
    version: str,
    champion: Champion,
    prepared: PreparedDataset,
    metrics: TrainingMetrics,
    config: TrainingConfig,
    *,
    run_id: str,
    mlflow_version: str,
    commit: str | None,
) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        algorithm=champion.model.algorithm,
        created_at=datetime.now(UTC),
        feature_names=champion.model.feature_names,
        thresholds=ThresholdSettings(
            medium=config.risk_medium, high=config.risk_high, decision=champion.threshold
        ),
        training_metrics=metrics,
        decision_policy=champion.policy,
        fairness=champion.fairness,
        fairness_measured_on=champion.fairness_measured_on,
        params=champion.params(),
        seed=config.seed,
        data_hash=prepared.data_hash,
        data_rows=prepared.rows_in - prepared.rows_quarantined,  # all valid rows, not a sample
        data_source=prepared.source,
        feature_views=prepared.feature_views,
        git_commit=commit,
        mlflow_run_id=run_id,
        mlflow_model_name=registry.MODEL_NAME,
        mlflow_model_version=mlflow_version,
    )


def registration_card(
    metadata: ModelMetadata, run_dir: Path, prepared: PreparedDataset, reason: str | None
) -> card.CardFacts:
    """The model card as of registration (no approval yet: the card says so)."""
    png = run_dir / "calibration.png"
    return card.CardFacts(
        metadata=metadata.model_dump(mode="json"),
        mlflow_version=metadata.mlflow_model_version,
        mlflow_tags={"reason": reason or "manual"},
        aliases=[registry.CHALLENGER],
        reasons=reason_rows(list(metadata.feature_names)),
        validation=prepared.report.to_dict(),
        calibration_png=png.read_bytes() if png.is_file() else None,
        data_file=str(prepared.path.resolve()),
    )


def _policy_params(policy: DecisionPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {}
    return {"decision.rule": policy.rule, "decision.refer_at": round(policy.refer_at, 6),
            "decision.decline_at": round(policy.decline_at, 6),
            **{f"decision.target.{k}": v for k, v in policy.target.items()}}  # fmt: skip


def _policy_metrics(policy: DecisionPolicy | None) -> dict[str, float]:
    if policy is None:
        return {}
    return {f"decision.{k}": float(v) for k, v in policy.achieved.items() if k != "rows"}


def publish(
    *,
    run_id: str,
    run_dir: Path,
    prepared: PreparedDataset,
    results: list[CVResult],
    champion: Champion,
    y: np.ndarray,
    metrics: TrainingMetrics,
    config: TrainingConfig,
    settings: TrainingSettings,
    reason: str | None,
    timings: dict[str, float],
    progress: Progress,
    started_at: float | None = None,
) -> Published:
    """Reports, MLflow runs and registry version (``challenger``), Bento model + reference.

    Args:
        started_at: when the training began (epoch seconds), the MLflow run's start.
    """
    import time

    started_at = started_at or time.time()

    start = time.perf_counter()
    table = write_reports(run_dir, results, champion, y, prepared)
    timings["report"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    commit = tracking.git_commit()
    bento_tag = f"{BENTO_MODEL_NAME}:{run_id}"
    tracking.configure(settings.experiment, settings)
    tags = tracking.run_tags(
        data_hash=prepared.data_hash, seed=config.seed, commit=commit, source=prepared.source
    )
    with tracking.start_run_at(settings.experiment, f"train-{run_id}", started_at) as parent:
        mlflow.set_tags(
            {**tags, "champion": champion.result.name, "bento_tag": bento_tag,
             "reason": reason or "manual", "run_folder": str(run_dir),
             **{f"feature_view.{k}": v for k, v in prepared.feature_views.items()},
             "data_file": str(prepared.path.resolve())}
        )  # fmt: skip
        mlflow.log_params(
            {"data_rows": prepared.rows_in - prepared.rows_quarantined, "train_rows": len(y),
             "folds": config.folds, "fitted_on": champion.fitted_on,
             "fitted_rows": champion.fitted_rows,
             "test_size": config.test_size, "champion_rule": RULE[:250],
             "decision_threshold": round(champion.threshold, 6),
             **_policy_params(champion.policy),
             **{f"champion.{k}": v for k, v in champion.params().items()}}
        )  # fmt: skip
        mlflow.log_metrics(metrics.flat())
        mlflow.log_metrics(fairness_metrics(champion.fairness))
        tracking.log_training_data(
            prepared.frame, path=prepared.path, data_hash=prepared.data_hash,
            source=prepared.source, target=LABEL, quarantined=prepared.rows_quarantined,
        )  # fmt: skip
        for res in results:
            tracking.log_candidate(
                res.name,
                experiment=settings.experiment,
                seconds=res.seconds,
                params={"algorithm": res.candidate.algorithm.value,
                        "imbalance": res.candidate.imbalance.value,
                        **res.candidate.params, **res.params},
                metrics={**res.summary(), **fairness_metrics(res.fairness),
                         **_policy_metrics(res.policy)},
                tags={**tags, "champion": str(res.name == champion.result.name).lower()},
                artifacts=run_dir / "candidates" / res.name,
            )  # fmt: skip
        for path in sorted(run_dir.glob("*.*")):
            mlflow.log_artifact(str(path))
        payload = pickle.dumps(champion.model, protocol=pickle.HIGHEST_PROTOCOL)
        mlflow.set_tag("artifact_sha256", sha256_hex(payload))  # the same bytes in both stores
        with tempfile.TemporaryDirectory() as tmp:
            pickle_path = Path(tmp) / "scoring_model.pkl"
            pickle_path.write_bytes(payload)
            model_info = tracking.log_scoring_model(pickle_path)
        mlflow.log_metrics(metrics.flat(), model_id=model_info.model_id)  # shown with the version
        parent_id = str(parent.info.run_id)
    mlflow_version = registry.register(
        str(model_info.model_uri), run_id=parent_id, bento_tag=bento_tag,
        mlflow_client=registry.client(settings),
        description=registry.version_description(
            champion=champion.result.name, algorithm=champion.model.algorithm,
            metrics=metrics.flat(), data_hash=prepared.data_hash, rows=len(prepared.frame),
            source=prepared.source, reason=reason, bento_tag=bento_tag,
        ),
        metrics=metrics.flat(),
    )  # fmt: skip
    metadata = _metadata(
        run_id, champion, prepared, metrics, config,
        run_id=parent_id, mlflow_version=mlflow_version, commit=commit,
    )  # fmt: skip
    probabilities = champion.model.predict_proba(prepared.frame)
    reference = build_reference(prepared.frame, probabilities, seed=config.seed)
    facts = registration_card(
        metadata.model_copy(update={"artifact_sha256": sha256_hex(payload)}),
        run_dir, prepared, reason,
    )  # fmt: skip

    def extras(folder: Path) -> None:
        reference.save(folder)
        card_dir = folder / card.CARD_DIR
        card.write_card(facts, card_dir)
        (card_dir / card.VALIDATION_JSON).write_text(
            json.dumps(prepared.report.to_dict(), indent=1, default=str)
        )

    saved = save_model(
        champion.model,
        metadata,
        labels={"algorithm": metadata.algorithm, "source": prepared.source},
        write_extra=extras,
        payload=payload,
    )
    registry.client(settings).log_artifacts(
        parent_id, str(Path(saved.path) / card.CARD_DIR), card.CARD_DIR
    )
    record_control(
        "model.registered", actor("training"), model=bento_tag, mlflow_version=mlflow_version,
        artifact_sha256=sha256_hex(payload), data_hash=prepared.data_hash,
        reason=reason or "manual", home=settings.home,
    )  # fmt: skip
    timings["register"] = round(time.perf_counter() - start, 2)
    progress.say(
        f"registered {bento_tag} as MLflow {registry.MODEL_NAME} v{mlflow_version} "
        f"(alias {registry.CHALLENGER}); run folder {run_dir}"
    )
    return Published(bento_tag, mlflow_version, parent_id, table)
