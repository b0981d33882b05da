"""A start-up failure is described in one line naming the cause (runners.startup)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loan_default.errors import UnavailableError
from runners.settings import ServingSettings
from runners.startup import describe


def test_a_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAN_MAX_REASONS", "99")
    with pytest.raises(ValidationError) as caught:
        ServingSettings()
    line = describe(caught.value)
    assert line.startswith("invalid settings: LOAN_MAX_REASONS:") and "\n" not in line


def test_a_model_error_stays_one_line() -> None:
    line = describe(UnavailableError("no model to serve:\n  promote one"))
    assert line == "no model to serve: promote one"
