"""The scorecard's single-application path against LightGBM's C fast path, in the same run.

Usage::

    .venv/bin/python bench/scorecard.py [--seconds 1]

Trains, on 3,000 generated applications, the shipped scorecard candidate and the fixture-sized
LightGBM of the serving tests, then times ``ScoringModel.predict_proba_records`` on one
application for each (the API's path: features, model, calibration-free), and the scorecard's
points per characteristic (what ``/v1/explain`` adds). CPU seconds of this process, best of 5
repeats; ratios against the LightGBM baseline are printed.
"""

from __future__ import annotations

import argparse

from timing import per_call  # bench/ is on sys.path when run as a script

from loan_default.data.generate import generate_applications
from loan_default.model import ScoringModel
from loan_default.schema import LABEL, frame_to_records
from training.candidates import build_pipeline, scoring_estimator
from training.config import TrainingConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    frame = generate_applications(3000, seed=7)
    X, y = frame.drop(columns=[LABEL]), frame[LABEL].to_numpy()
    config = TrainingConfig.load()
    models = {}
    for name in ("scorecard", "lightgbm"):
        cand = config.candidate(name)
        params = {"n_estimators": 200} if name == "lightgbm" else {}
        pipeline = build_pipeline(cand, params, seed=7)
        kwargs = {}
        if name == "lightgbm":
            from training.candidates import fit_params

            kwargs = fit_params(cand)
        pipeline.fit(X, y, **kwargs)
        models[name] = ScoringModel(*scoring_estimator(pipeline), num_threads=1)
    record = frame_to_records(X.head(1))
    base = per_call(lambda: models["lightgbm"].predict_proba_records(record), args.seconds)
    card_model = models["scorecard"]
    card = card_model.scorecard()
    assert card is not None
    rows = {
        "lightgbm (200 trees, C single-row path)": base,
        "scorecard predict": per_call(
            lambda: card_model.predict_proba_records(record), args.seconds
        ),
        "scorecard points per characteristic": per_call(
            lambda: card.points(card_model.features.transform_records(record)), args.seconds
        ),
    }
    print(f"scorecard: {len(card.characteristics_)} characteristics")
    for label, seconds in rows.items():
        print(f"{label:<42} {seconds * 1e6:8.1f} us  {seconds / base:5.2f} x lightgbm")


if __name__ == "__main__":
    main()
