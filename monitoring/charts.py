"""Pictures of the window reports (SVG, drawn with matplotlib): distributions and trends.

* :func:`distribution_charts`: for each drifted field and for the score, the reference and the
  window side by side on the bins the drift decision used (the deciles frozen at training,
  categories, missing), so the picture shows exactly what the PSI compares;
* :func:`trend_chart`: the index's four panels over the kept windows: drift score, score PSI,
  AUC (labelled and estimated) and the lowest adverse impact ratio per protected attribute,
  each with its alarm line.

The files are written next to the pages and linked with ``<img>``: no script, no network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loan_default.reference import (
    MONITORED_FIELDS,
    PROBABILITY,
    CategoricalProfile,
    ReferenceProfile,
    bin_counts,
    category_counts,
    category_labels,
)
from monitoring.results import WindowResult

REFERENCE_COLOUR = "#9aa0a6"
CURRENT_COLOUR = "#d93025"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "loan-default"  # the same data draws the same file
    return plt


def _bin_labels(edges: Sequence[float]) -> list[str]:
    def short(x: float) -> str:
        if abs(x) >= 1e6:
            return f"{x / 1e6:.3g}M"
        return f"{x / 1e3:.3g}k" if abs(x) >= 1e4 else f"{x:.3g}"

    if not edges:
        return ["all", "missing"]
    labels = [f"<={short(edges[0])}"]
    labels += [f"{short(a)}-{short(b)}" for a, b in pairwise(edges)]
    return [*labels, f">{short(edges[-1])}", "missing"]


def _shares(
    reference: ReferenceProfile, name: str, values: pd.Series | np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bin labels, reference shares and current shares of one field (or of the score)."""
    if name == PROBABILITY:
        profile: Any = reference.stats.score
    else:
        profile = reference.stats.fields[name]
    if isinstance(profile, CategoricalProfile):
        spec = next(f for f in MONITORED_FIELDS if f.name == name)
        counts = category_counts(category_labels(spec, pd.Series(values)), profile.categories)
        labels = [*profile.categories, "unseen", "missing"]
    else:
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
        counts = bin_counts(numbers, np.asarray(profile.edges))
        labels = _bin_labels(profile.edges)
    current = counts / max(int(counts.sum()), 1)
    return labels, np.asarray(profile.proportions, dtype="float64"), current


def _draw_distribution(path: Path, title: str, labels: list[str], ref: np.ndarray,
                       cur: np.ndarray) -> None:  # fmt: skip
    plt = _pyplot()
    keep = [i for i in range(len(labels)) if ref[i] > 0 or cur[i] > 0]  # no empty bars
    x = np.arange(len(keep))
    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=80)
    ax.bar(x - 0.2, ref[keep], width=0.4, color=REFERENCE_COLOUR, label="reference (training)")
    ax.bar(x + 0.2, cur[keep], width=0.4, color=CURRENT_COLOUR, label="this window")
    ax.set_xticks(x, [labels[i] for i in keep], rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def distribution_charts(
    reference: ReferenceProfile,
    frame: pd.DataFrame,
    probabilities: np.ndarray,
    fields: Sequence[str],
    folder: Path,
    *,
    prefix: str,
    psi: dict[str, float],
) -> dict[str, str]:
    """SVGs of the reference vs the window for ``fields`` and the score; name -> file name.

    Args:
        psi: the PSI of each drawn column, shown in its title.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    for name in [*fields, PROBABILITY]:
        if name != PROBABILITY and (name not in reference.stats.fields or name not in frame):
            continue
        values = probabilities if name == PROBABILITY else frame[name]
        labels, ref, cur = _shares(reference, name, values)
        label = "score (predicted probability of default)" if name == PROBABILITY else name
        file = f"{prefix}-{_SAFE.sub('_', name)}.svg"
        _draw_distribution(folder / file, f"{label}: PSI {psi.get(name, 0.0):.3f}", labels,
                           ref, cur)  # fmt: skip
        out[name] = file
    return out


def _series(results: list[WindowResult]) -> dict[str, list[float | None]]:
    data: dict[str, list[float | None]] = {
        "drift": [], "psi": [], "auc": [], "estimated": []
    }  # fmt: skip
    for r in results:
        seg = max(r.segments, key=lambda s: s.records, default=None)
        data["drift"].append(seg.drift_score if seg else None)
        data["psi"].append(seg.score_psi if seg else None)
        data["auc"].append(seg.labelled.auc if seg and seg.labelled else None)
        data["estimated"].append(seg.estimated_auc if seg else None)
    return data


def _air(results: list[WindowResult]) -> dict[str, list[float | None]]:
    """The lowest adverse impact ratio of each protected attribute, per window."""
    attributes = sorted({g.attribute for r in results for s in r.segments for g in s.fairness})
    out: dict[str, list[float | None]] = {a: [] for a in attributes}
    for r in results:
        seg = max(r.segments, key=lambda s: s.records, default=None)
        for attribute in attributes:
            ratios = [
                g.adverse_impact_ratio
                for g in (seg.fairness if seg else [])
                if g.attribute == attribute and g.adverse_impact_ratio is not None and not g.small
            ]
            out[attribute].append(min(ratios) if ratios else None)
    return out


def _line(ax: Any, x: np.ndarray, values: list[float | None], **style: Any) -> None:
    y = np.array([np.nan if v is None else v for v in values], dtype="float64")
    ax.plot(x, y, marker="o", markersize=3, **style)


def trend_chart(results: list[WindowResult], path: Path, *, auc_floor: float | None,
                drifted_alarm: float | None, psi_act: float = 0.25) -> Path:  # fmt: skip
    """Four panels over the windows (oldest left) with their alarm lines; returns ``path``.

    Args:
        auc_floor: the AUC under which the retraining trigger fires (drawn dashed).
        drifted_alarm: drift score from which a window counts as drifted (drawn dashed).
        psi_act: the score PSI of the 'act' band (drawn dashed).
    """
    plt = _pyplot()
    ordered = sorted(results, key=lambda r: r.window_id)
    x = np.arange(len(ordered))
    labels = [f"{r.end:%m-%d %H:%M}" for r in ordered]
    data = _series(ordered)
    fig, axes = plt.subplots(4, 1, figsize=(7.5, 9), dpi=80, sharex=True)
    _line(axes[0], x, data["drift"], color=CURRENT_COLOUR)
    axes[0].set_ylabel("drift score")
    if drifted_alarm is not None:
        axes[0].axhline(drifted_alarm, color="#555", linestyle="--", linewidth=0.8)
    _line(axes[1], x, data["psi"], color=CURRENT_COLOUR)
    axes[1].axhline(psi_act, color="#555", linestyle="--", linewidth=0.8)
    axes[1].set_ylabel("score PSI")
    _line(axes[2], x, data["auc"], color="#1a73e8", label="labelled")
    _line(axes[2], x, data["estimated"], color="#1a73e8", linestyle=":", label="estimated")
    if auc_floor is not None:
        axes[2].axhline(auc_floor, color="#555", linestyle="--", linewidth=0.8)
    axes[2].set_ylabel("AUC")
    axes[2].legend(fontsize=7, frameon=False)
    for attribute, values in _air(ordered).items():
        _line(axes[3], x, values, label=attribute)
    axes[3].axhline(0.8, color="#555", linestyle="--", linewidth=0.8)
    axes[3].set_ylabel("lowest AIR")
    if axes[3].get_legend_handles_labels()[0]:
        axes[3].legend(fontsize=7, frameon=False)
    axes[3].set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
    axes[0].set_title("Windows over time (dashed: alarm lines)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path
