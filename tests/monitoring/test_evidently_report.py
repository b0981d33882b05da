from __future__ import annotations

import json

import pytest

from loan_default.data.generate import simulate
from loan_default.errors import InputError
from loan_default.reference import PROBABILITY, build_reference
from monitoring.evidently_report import (
    EvidentlyConfig,
    data_definition,
    drifted_columns,
    render_evidently,
)


def test_data_definition_follows_the_schema():
    definition = data_definition(["client_income", "car_owned", "client_gender", PROBABILITY])
    assert definition.numerical_columns == ["client_income", PROBABILITY]
    assert definition.categorical_columns == ["car_owned", "client_gender"]


def test_drifted_columns_reads_failed_value_drift_tests():
    results = {
        "tests": [
            {"status": "FAIL", "metric_config": {"params": {"column": "client_income"}}},
            {"status": "SUCCESS", "metric_config": {"params": {"column": "age_days"}}},
            {"status": "FAIL", "metric_config": {"params": {}}},  # the dataset-level count test
        ]
    }
    assert drifted_columns(results) == ["client_income"]


def test_empty_window_is_refused(tmp_path):
    training = simulate(300, seed=1)
    reference = build_reference(training.frame, training.probability)
    with pytest.raises(InputError, match="non-empty window"):
        render_evidently(reference.sample, training.frame.iloc[:0], tmp_path / "x.html")


@pytest.mark.slow
def test_report_is_written_and_sees_the_shifted_column(tmp_path):
    training = simulate(1_500, seed=2)
    reference = build_reference(training.frame, training.probability)
    window = simulate(500, seed=3, shift="income_drop")
    current = window.frame.assign(**{PROBABILITY: window.probability})
    path = tmp_path / "pages" / "evidently.html"
    results = render_evidently(
        reference.sample, current, path, EvidentlyConfig(reference_rows=1_000)
    )
    assert path.stat().st_size > 10_000
    assert "<html" in path.read_text()[:2_000].lower()
    assert json.loads(path.with_suffix(".json").read_text()) == results
    assert "client_income" in drifted_columns(results)
    assert "client_gender" not in drifted_columns(results)


@pytest.mark.slow
def test_a_page_of_chosen_columns_only(tmp_path):
    training = simulate(600, seed=4)
    reference = build_reference(training.frame, training.probability)
    current = training.frame.iloc[:200].assign(**{PROBABILITY: training.probability[:200]})
    results = render_evidently(
        reference.sample, current, tmp_path / "page.html", columns=["client_income", PROBABILITY]
    )
    tested = {
        t["metric_config"]["params"]["column"]
        for t in results["tests"]
        if "column" in t["metric_config"]["params"]
    }
    assert tested == {"client_income", PROBABILITY}
