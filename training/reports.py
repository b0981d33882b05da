"""The comparison table (Markdown, CSV) and the plots (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from loan_default.decision import DECISIONS, DecisionPolicy
from loan_default.fairness import FairnessRow, verdicts
from training.evaluation import METRICS, CVResult

_TOP_FEATURES = 20


def comparison_table(results: Sequence[CVResult], y: np.ndarray, champion: str) -> pd.DataFrame:
    """One row per candidate: mean and std of each metric, threshold, time, the champion mark."""
    rows = []
    for res in results:
        summary = res.summary()
        row: dict[str, Any] = {
            "candidate": res.name,
            "algorithm": res.candidate.algorithm.value,
            "imbalance": res.candidate.imbalance.value,
        }
        for metric in METRICS:
            row[f"{metric}_mean"] = summary[f"{metric}_mean"]
            row[f"{metric}_std"] = summary[f"{metric}_std"]
        row["brier_calibrated"] = float(np.mean((res.calibrated_oof - y) ** 2))
        row["holdout_roc_auc"] = res.holdout.get("roc_auc", float("nan"))
        row["holdout_brier"] = res.holdout.get("brier", float("nan"))
        row["threshold"] = res.threshold
        policy = res.policy
        row["approval_rate"] = policy.achieved.get("approval_rate", np.nan) if policy else np.nan
        airs = [v.min_air for v in verdicts(res.fairness) if v.min_air is not None]
        row["min_air"] = min(airs) if airs else np.nan
        row["seconds"] = round(res.seconds, 1)
        row["champion"] = res.name == champion
        rows.append(row)
    return pd.DataFrame(rows)


COMPARISON_HEAD = (
    "candidate", "imbalance", *METRICS, "Brier (calibrated)", "hold-out ROC AUC",
    "hold-out Brier", "approved", "min AIR", "seconds",
)  # fmt: skip


def comparison_cells(table: pd.DataFrame, *, bold: str = "**") -> list[list[str]]:
    """One row of cells per candidate (``mean ± std``); the champion's name marked."""
    rows = []
    for row in table.to_dict("records"):
        name = row["candidate"]
        if row["champion"]:
            name = f"{bold}{name}{bold} (champion)"
        cells = [name, row["imbalance"]]
        cells += [f"{row[f'{m}_mean']:.4f} ± {row[f'{m}_std']:.4f}" for m in METRICS]
        cells += [f"{row['brier_calibrated']:.4f}"]
        cells += [_number(row.get("holdout_roc_auc")), _number(row.get("holdout_brier"))]
        cells += [_number(row.get("approval_rate")), _number(row.get("min_air"))]
        cells += [f"{row['seconds']:.1f}"]
        rows.append(cells)
    return rows


def markdown(table: pd.DataFrame, rule: str) -> str:
    """The table as Markdown with ``mean ± std`` cells, followed by the selection rule."""
    lines = ["| " + " | ".join(COMPARISON_HEAD) + " |", "|" + "---|" * len(COMPARISON_HEAD)]
    lines += ["| " + " | ".join(cells) + " |" for cells in comparison_cells(table)]
    return "\n".join(lines) + f"\n\nChampion rule: {rule}\n"


def fairness_markdown(
    by_candidate: dict[str, list[FairnessRow]], champion: str, champion_on: str | None
) -> str:
    """Per candidate (out-of-fold) and for the registered champion: each attribute's worst
    adverse impact ratio and gaps, then the champion's rows group by group."""
    lines = [
        "# Fairness at the decision",
        "",
        "Approved = the favourable outcome; AIR = a group's approval rate over the most "
        "favoured group's (four-fifths rule: < 0.8 is flagged); TPR / FPR = share of "
        "defaulters / repayers not approved; disparate impact = the group's mean predicted "
        "P(default) over the population's default rate.",
        "",
        "| candidate | attribute | min AIR | approval gap | TPR gap | FPR gap | flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in by_candidate.items():
        for v in verdicts(rows):
            lines.append(
                f"| {name} | {v.attribute} | {_number(v.min_air)} | {_number(v.approval_gap)} | "
                f"{_number(v.tpr_gap)} | {_number(v.fpr_gap)} | "
                f"{', '.join(v.flagged_groups) or ('gap' if v.flagged else '-')} |"
            )
    rows = by_candidate.get("registered model", [])
    lines += ["", f"## Registered model ({champion}), {champion_on or 'out-of-fold'}", "",
              "| attribute | group | n | approval rate | AIR | TPR | FPR | predicted default "
              "rate | disparate impact |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r.attribute} | {r.group}{' (small)' if r.small else ''} | {r.n:,} | "
            f"{r.approval_rate:.4f} | {_number(r.adverse_impact_ratio)} | {_number(r.tpr)} | "
            f"{_number(r.fpr)} | {_number(r.predicted_default_rate)} | "
            f"{_number(r.disparate_impact)} |"
        )
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.4f}"


def _figure(panels: int = 1) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if panels == 1:
        fig, ax = plt.subplots(figsize=(6, 5), dpi=80)
        return fig, [ax]
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), dpi=80)
    return fig, list(axes.ravel())


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_roc(ax: Any, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """ROC curves of ``{name: (labels, probabilities)}`` with the chance diagonal."""
    for name, (labels, p) in curves.items():
        fpr, tpr, _ = roc_curve(labels, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC")
    ax.legend(loc="lower right", fontsize=8)


def draw_calibration(ax: Any, y: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    """Reliability diagram (quantile bins) of each probability vector in ``curves``."""
    for name, p in curves.items():
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    top = max(float(np.max(p)) for p in curves.values())
    ax.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="Predicted P(default)", ylabel="Observed default rate", title="Calibration")
    ax.legend(loc="upper left", fontsize=8)


def draw_importance(ax: Any, importance: pd.Series) -> None:
    """Horizontal bars of the largest importances."""
    top = importance.head(_TOP_FEATURES)[::-1]
    ax.barh(list(top.index), top.to_numpy())
    ax.set(
        xlabel="Share of the ROC AUC lost when the field is shuffled",
        title="Permutation importance per input field",
    )
    ax.tick_params(axis="y", labelsize=7)


def decision_matrix(y: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Counts of observed outcome (rows: repaid, default) by decision (approve, refer,
    decline)."""
    out = np.zeros((2, len(DECISIONS)), dtype=np.int64)
    for j, decision in enumerate(DECISIONS):
        chosen = decisions == decision
        out[0, j] = int(np.sum(chosen & (y == 0)))
        out[1, j] = int(np.sum(chosen & (y == 1)))
    return out


def draw_confusion(ax: Any, y: np.ndarray, p: np.ndarray, policy: DecisionPolicy) -> None:
    """Observed outcome by the model's decision (approve / refer / decline), with counts and
    the default rate of each decision."""
    matrix = decision_matrix(np.asarray(y), policy.decisions(p))
    ax.imshow(matrix, cmap="Blues", aspect="auto")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:,}", ha="center", va="center")
    totals = matrix.sum(axis=0)
    labels = [f"{d}\n{matrix[1, j] / t:.1%} bad" if (t := totals[j]) else d
              for j, d in enumerate(DECISIONS)]  # fmt: skip
    ax.set(
        xticks=list(range(len(DECISIONS))),
        yticks=[0, 1],
        xticklabels=labels,
        yticklabels=["repaid", "default"],
        xlabel="Decision",
        ylabel="Observed",
        title=f"At the decision: refer >= {policy.refer_at:.3f}, decline >= "
        f"{policy.decline_at:.3f}",
    )


def plot(path: Path, draw: Any, *args: Any) -> Path:
    """One PNG holding one ``draw_*`` chart."""
    fig, (ax,) = _figure()
    draw(ax, *args)
    return _save(fig, path)


def candidate_plots(
    res: CVResult, y: np.ndarray, importance: pd.Series | None, folder: Path
) -> Path:
    """A candidate's ROC, calibration, importance and confusion matrix (out-of-fold) in one
    2 x 2 PNG (one figure per candidate keeps the report fast), plus its importance CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    fig, axes = _figure(panels=4)
    draw_roc(axes[0], {res.name: (y, res.oof)})
    draw_calibration(axes[1], y, {"raw": res.oof, "calibrated (cross-fitted)": res.calibrated_oof})
    if importance is not None:
        draw_importance(axes[2], importance)
        importance.rename("importance").to_csv(folder / "feature_importance.csv")
    if res.policy is not None:
        draw_confusion(axes[3], y, res.calibrated_oof, res.policy)
    fig.suptitle(f"{res.name} ({res.candidate.imbalance.value}), out-of-fold")
    _save(fig, folder / "evaluation.png")
    return folder
