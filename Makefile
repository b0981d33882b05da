# One entry point for people and CI. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the one `pip install --user uv` puts in ~/.local/bin (installed on demand).
UV ?= $(or $(shell command -v uv 2>/dev/null),$(HOME)/.local/bin/uv)
PY := .venv/bin/python
LOANCTL := .venv/bin/loanctl
# Everything generated at run time (data, MLflow store, Bento store, traffic, reports) goes here.
VAR ?= var
export LOAN_HOME ?= $(abspath $(VAR))
export BENTOML_HOME ?= $(abspath $(VAR))/bentoml
export MLFLOW_TRACKING_URI ?= sqlite:///$(abspath $(VAR))/mlflow/mlflow.db
export MLFLOW_DISABLE_TELEMETRY ?= true
export DO_NOT_TRACK ?= 1
export BENTOML_DO_NOT_TRACK ?= true
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

.PHONY: install
install: .venv/.synced ## Create .venv with the pinned dependencies (uv.lock)

.PHONY: lint
lint: install ## ruff and mypy
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .

.PHONY: format
format: install ## Apply ruff's formatting and import order
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

.PHONY: test
test: install ## Install everything and run the whole suite (what CI runs)
	.venv/bin/ruff check .
	.venv/bin/mypy .
	.venv/bin/pytest

.PHONY: test-fast
test-fast: install ## Only the fast tests
	.venv/bin/pytest -m "not slow"
