"""What reason codes per field cost on top of the contributions, in the same run.

Usage::

    .venv/bin/python bench/reasons.py [--seconds 1]

Trains the fixture-sized LightGBM of the serving tests (3,000 generated applications, 40 trees)
and times, for one application and for an explainer batch of 16, the model's contributions
(``ScoringModel.contributions_matrix``: the baseline) against folding them into fields and
choosing the reasons (``fold_contributions`` + ``principal_reasons``). CPU seconds of this
process, best of 5 repeats; ratios against the baseline are printed.
"""

from __future__ import annotations

import argparse
from typing import Any

from timing import per_call  # bench/ is on sys.path when run as a script

from loan_default.attribution import fold_contributions
from loan_default.data.generate import generate_applications
from loan_default.reasons import principal_reasons, reason_codes
from loan_default.schema import LABEL, frame_to_records
from tests.runners.tiny_model import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    frame = generate_applications(3000, seed=7)
    model = train(frame)
    model.num_threads = 1
    codes = reason_codes()
    names = model.feature_names
    for rows in (1, 16):
        apps = frame_to_records(frame.drop(columns=[LABEL]).head(rows))
        X = model.features.transform_records(apps)
        contributions = model.contributions_matrix(X)

        def reasons(X: Any = X, c: Any = contributions, apps: Any = apps) -> None:
            folded = fold_contributions(c, X, names)
            for i, app in enumerate(apps):
                principal_reasons(folded, i, app, codes)

        def contributions_only(X: Any = X) -> None:
            model.contributions_matrix(X)

        base = per_call(contributions_only, args.seconds)
        extra = per_call(reasons, args.seconds)
        print(f"{rows:>2} row(s): contributions {base * 1e6:9.1f} us (baseline)   "
              f"fold + reasons {extra * 1e6:8.1f} us  {extra / base:5.2f} x")  # fmt: skip


if __name__ == "__main__":
    main()
