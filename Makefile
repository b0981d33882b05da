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

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set, nothing else would ever cache the
# bytecode, and every import of mlflow/evidently/bentoml would compile them again (~15 s).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

.PHONY: install
install: .venv/.synced ## Create .venv with the pinned dependencies (uv.lock)

.PHONY: lint
lint: install ## ruff, mypy and the import contracts (import-linter, pyproject.toml)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
	.venv/bin/lint-imports

.PHONY: format
format: install ## Apply ruff's formatting and import order
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

.PHONY: test
test: install promtool ## Install everything (packages, promtool) and run the whole suite (CI)
	.venv/bin/ruff check .
	.venv/bin/mypy .
	.venv/bin/lint-imports
	.venv/bin/pytest

# -- The demo: everything from a fresh clone to a served champion whose drift is caught ----------
DEMO_TRAIN_ROWS ?= 20000
DEMO_DATA := $(VAR)/data/demo-applications.parquet
.PHONY: demo
demo: install ## Generate data, train, register, promote, serve; then show drift being caught
	$(LOANCTL) data generate --rows $(DEMO_TRAIN_ROWS) --seed 7 $(DEMO_DATA)
	$(LOANCTL) train --data $(DEMO_DATA) --reason "make demo"
	$(LOANCTL) models promote challenger
	@mkdir -p $(VAR)/logs
	@echo "starting the service (log: $(VAR)/logs/demo-serve.log)"
	@$(SERVE_CMD) > $(VAR)/logs/demo-serve.log 2>&1 & server=$$!; \
	  trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null' EXIT INT TERM; \
	  $(LOANCTL) service wait --url http://$(HOST):$(PORT) --timeout 240 || exit 1; \
	  $(MAKE) --no-print-directory demo-monitor || exit 1; \
	  echo; echo "serving: http://$(HOST):$(PORT) (API docs at /), gRPC on $(HOST):$(GRPC_PORT);"; \
	  echo "sidecar reports: $(VAR)/monitoring/reports/index.html. Ctrl-C stops the service."; \
	  wait $$server

.PHONY: test-fast
test-fast: install ## Only the fast tests
	.venv/bin/pytest -m "not slow"

# -- Monitoring: alert rules (engineer G) ------------------------------------------------------
# promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages.
# (On a host running systemd, installing them also enables their services; stop them if unwanted.)
.PHONY: promtool
promtool: ## Install promtool and amtool (Debian packages) when they are missing
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
	    --no-install-recommends prometheus prometheus-alertmanager; \
	fi
	@promtool --version | head -1

.PHONY: check-alerts
check-alerts: promtool ## Check Prometheus/Alertmanager configs and unit-test the alert rules
	promtool check config configs/prometheus/prometheus.yml
	promtool test rules configs/prometheus/alerts_test.yml
	amtool check-config configs/alertmanager.yml

# The drift demo, against a running service ($(HOST):$(PORT)): normal traffic, a sidecar pass,
# traffic whose incomes fell 30%, another pass; prints what the sidecar caught.
DEMO_ROWS ?= 3000
DEMO_SHIFT ?= income_drop
DEMO_METRICS := $(VAR)/monitoring/demo-metrics.prom
.PHONY: demo-monitor
demo-monitor: install ## (service running) Replay normal then drifted traffic; the sidecar catches it
	$(LOANCTL) monitor replay --url http://$(HOST):$(PORT) --rows $(DEMO_ROWS) --seed 101 \
	  --feedback-share 0.3
	$(LOANCTL) monitor run --once --metrics-file $(DEMO_METRICS)
	$(LOANCTL) monitor replay --url http://$(HOST):$(PORT) --rows $(DEMO_ROWS) --seed 102 \
	  --feedback-share 0.3 --shift $(DEMO_SHIFT)
	$(LOANCTL) monitor run --once --metrics-file $(DEMO_METRICS)
	@echo "--- sidecar metrics after the drifted window ($(DEMO_METRICS)):"
	@grep -E '^loan_(drift_score|drifted_features|score_psi|model_auc|model_estimated_auc)\{' \
	  $(DEMO_METRICS) || true
	@grep -E '^loan_feature_drift\{.*\} 1\.0$$' $(DEMO_METRICS) || true
	@echo "--- window reports: $(VAR)/monitoring/reports/index.html"

# -- gRPC (engineer F) -------------------------------------------------------------------------
GRPC_DIR := loan_default/grpc
.PHONY: proto
proto: install ## Regenerate loan_scoring.proto from the schema, then its Python stubs
	$(PY) -m loan_default.grpc.protogen
	PATH="$(abspath .venv/bin):$$PATH" $(PY) -m grpc_tools.protoc -I . --python_out=. \
	  --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(GRPC_DIR)/loan_scoring.proto

.PHONY: proto-check
proto-check: install ## Fail if loan_scoring.proto is out of date with loan_default/schema.py
	$(PY) -m loan_default.grpc.protogen --check

HOME_CREDIT_SAMPLE ?= ../shared/data/home_credit_application_train_sample5000.tsv.gz
.PHONY: data-home-credit
data-home-credit: install ## Import, validate and hash the real Home Credit sample into $(VAR)/data
	$(LOANCTL) data import --source home_credit $(HOME_CREDIT_SAMPLE) $(VAR)/data/home_credit.parquet
	$(LOANCTL) data validate $(VAR)/data/home_credit.parquet --report $(VAR)/reports/home_credit-validation.json
	$(LOANCTL) data hash $(VAR)/data/home_credit.parquet

SYNTHETIC_ROWS ?= 100000
.PHONY: data-synthetic
data-synthetic: install ## Generate synthetic training data and a drifted batch ($(SYNTHETIC_ROWS) rows) into $(VAR)/data
	$(LOANCTL) data generate --rows $(SYNTHETIC_ROWS) --seed 1 $(VAR)/data/synthetic.parquet
	$(LOANCTL) data generate --rows 20000 --seed 2 --shift income_drop $(VAR)/data/synthetic-income_drop.parquet

# -- Training (engineer C) ---------------------------------------------------------------------
TRAIN_DATA ?= $(VAR)/data/synthetic.parquet
TRAIN_SOURCE ?=
.PHONY: train
train: install ## Compare candidates by CV, calibrate, register a challenger (TRAIN_DATA, TRAIN_SOURCE)
	$(LOANCTL) train --data $(TRAIN_DATA) $(if $(TRAIN_SOURCE),--source $(TRAIN_SOURCE))

.PHONY: bench-train
bench-train: install ## Time `loanctl train` stage by stage on 100,000 generated rows (< 10 min)
	$(PY) bench/train.py --quiet

.PHONY: bench-features
bench-features: install ## Feature engineering and generator speed vs a pandas baseline (~20 s of CPU)
	$(PY) bench/features.py

# Serving. The model: LOAN_MODEL_TAG if set, else the MLflow alias `champion` (at start-up).
GRPC_PORT ?= 3001
.PHONY: serve
SERVE_CMD = LOAN_GRPC_HOST=$(HOST) LOAN_GRPC_PORT=$(GRPC_PORT) OMP_NUM_THREADS=1 \
  .venv/bin/bentoml serve service:LoanDefaultService --host $(HOST) --port $(PORT)
serve: install ## Serve the champion (or LOAN_MODEL_TAG) on $(HOST):$(PORT), gRPC on $(GRPC_PORT)
	$(SERVE_CMD)

.PHONY: bento
bento: install ## Build the Bento offline, with the champion (or LOAN_MODEL_TAG) packed in
	tag="$$($(PY) -c 'from runners.loading import resolve_model_tag; from runners.settings import ServingSettings; print(resolve_model_tag(ServingSettings()))')" \
	  && .venv/bin/bentoml build --arg model_tag=$$tag

.PHONY: bench-serve
bench-serve: install ## REST throughput/latency vs a naive FastAPI app, a lean floor and the raw model (~3 min)
	$(PY) bench/serve.py
