"""The one cluster setting: `local`, an address, or nothing; bad values name the rule."""

from __future__ import annotations

import pytest

from loan_default.cluster import connect, resolve
from loan_default.errors import ConfigError


def test_option_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAN_CLUSTER", "tcp://scheduler:8786")
    monkeypatch.setenv("LOAN_CLUSTER_WORKERS", "3")
    assert resolve(None).cluster == "tcp://scheduler:8786"
    chosen = resolve("local")
    assert (chosen.cluster, chosen.cluster_workers) == ("local", 3)


def test_unset_means_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOAN_CLUSTER", raising=False)
    assert resolve(None).cluster is None
    assert resolve("  ").cluster is None
    with pytest.raises(ConfigError, match="no cluster configured"), connect(resolve(None)):
        pass


def test_a_value_that_is_no_address_is_refused() -> None:
    with pytest.raises(ConfigError, match="'local' or a scheduler address"):
        resolve("my-laptop")
