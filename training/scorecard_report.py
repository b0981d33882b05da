"""The scorecard table a validator reads: characteristics, bins, WoE, IV and points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from loan_default.features import FeatureEngineer
from loan_default.scorecard import WoEScorecard

_COLUMNS = ["characteristic", "bin", "rows", "defaults", "default_rate", "woe", "iv", "points"]


def scorecard_table(card: WoEScorecard, features: FeatureEngineer) -> pd.DataFrame:
    """One row per bin (special and missing included) of every characteristic kept.

    ``rows``/``defaults`` are the fitting rows in the bin; ``woe`` is positive for bins riskier
    than average; ``iv`` is the characteristic's information value (repeated on its rows);
    ``points`` is what the bin adds to the score.
    """
    rows: list[dict[str, Any]] = []
    vocab = features.vocabularies_
    for char, points in zip(card.characteristics_, card.points_, strict=True):
        names = list(vocab[char.name]) if char.name in vocab else None
        for label, n, e, w, p in zip(
            char.labels(names), char.counts, char.events, char.woe, points, strict=True
        ):
            rows.append(
                {
                    "characteristic": char.name,
                    "bin": label,
                    "rows": int(n),
                    "defaults": int(e),
                    "default_rate": float(e / n) if n else float("nan"),
                    "woe": float(w),
                    "iv": char.iv,
                    "points": float(p),
                }
            )
    return pd.DataFrame(rows, columns=_COLUMNS)


def markdown(card: WoEScorecard, table: pd.DataFrame) -> str:
    """The table as Markdown (points rounded), headed by the scaling."""
    head = (
        f"Scorecard: {len(card.characteristics_)} characteristics; {card.base_points:g} points "
        f"at good:bad odds {card.base_odds:g}:1, {card.pdo:g} points to double the odds "
        f"(factor {card.factor:.4f}, offset {card.offset:.4f}). Score = sum of the points; "
        "P(default) = 1 / (1 + exp((score - offset) / factor)) before calibration.\n\n"
    )
    lines = ["| characteristic | bin | rows | default rate | WoE | IV | points |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in table.to_dict("records"):
        rate = "-" if row["rows"] == 0 else f"{row['default_rate']:.3f}"
        lines.append(
            f"| {row['characteristic']} | {row['bin']} | {row['rows']} | {rate} | "
            f"{row['woe']:+.3f} | {row['iv']:.3f} | {row['points']:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


def write(card: WoEScorecard, features: FeatureEngineer, folder: Path) -> None:
    """``scorecard.csv`` and ``scorecard.md`` in ``folder``."""
    table = scorecard_table(card, features)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "scorecard.csv", index=False)
    (folder / "scorecard.md").write_text(markdown(card, table))
