# Engagement scoring: Terraform module, Lambda sources and simulator.
# `make help` lists the targets. Everything runs offline; see docs/development.md.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
ARGS ?=
TARGET ?=

# Dummy credentials for local targets only; real ones (for TARGET=aws) win when exported.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= us-east-1
export PYTHONDONTWRITEBYTECODE := 1
export PYTHONPATH := lambda_src:.

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

venv: $(STAMP) ## Create the virtual environment from pyproject.toml (pinned versions)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@
	@echo "venv ready: $(VENV)"

$(CHECKOV_VENV)/.installed: pyproject.toml
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "installing checkov into $(CHECKOV_VENV) (its pins clash with ours, so it lives apart) ..."
	@env -u PYTHONPATH $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check \
		"$$(sed -n 's/^checkov = \["\(checkov==[^"]*\)"\]/\1/p' pyproject.toml)"
	@touch $@

toolchain: venv ## Prepare Terraform for this machine (offline mirror + archive stand-in only when needed)
	@cfg=$$($(PY) tools/tf_toolchain.py); \
	if [ -n "$$cfg" ] && [ "$${cfg#$(CURDIR)/build}" != "$$cfg" ]; then echo "terraform: registry unreachable, using $$cfg"; \
	else echo "terraform: registry reachable, normal provider installation"; fi

fmt: venv ## Format Terraform and Python
	terraform fmt -recursive
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: venv ## ruff, mypy and terraform fmt -check
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy lambda_src simulator tools tests benchmarks
	terraform fmt -check -recursive

checkov: $(CHECKOV_VENV)/.installed ## Static security checks of the module (offline)
	env -u PYTHONPATH $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --skip-download

docs: venv ## Regenerate the README's Inputs and Outputs tables
	$(PY) tools/gen_docs.py --write

test: lint toolchain $(CHECKOV_VENV)/.installed ## Run every test: lint, unit, plan, apply, integration, reliability (one worker per core)
	$(PY) -m pytest -n auto --dist loadfile --durations=30 $(PYTEST_ARGS)

test-unit: venv ## Run tests/unit only (no server process, no Terraform), on every core
	$(PY) -m pytest tests/unit -q -n auto --dist worksteal $(PYTEST_ARGS)

test-reliability: venv toolchain ## Run only the reliability tests
	$(PY) -m pytest -m reliability $(PYTEST_ARGS)

simulate: venv toolchain ## Run the pipeline end to end (embedded local cloud, or LocalStack when it answers)
	$(PY) -m simulator run $(if $(TARGET),--target $(TARGET)) $(ARGS)

deploy-localstack: venv ## Apply the module to a running LocalStack with tflocal
	$(PY) -m simulator deploy --target localstack $(ARGS)

localstack-up: ## Start LocalStack with Docker (docker-compose.yml) and wait until it is healthy
	docker compose up --detach --wait

localstack-down: ## Stop the LocalStack container
	docker compose down

redrive: venv ## Redrive the failure queue: dry run unless ARGS has --apply (ARGS="--queue-url URL ...")
	$(PY) -m engagement_scoring.redrive $(ARGS)

report: venv ## The per-campaign attribution table (ARGS="--table NAME [--costs-json JSON] [--csv|--json]" or --scorer-function NAME)
	$(PY) -m engagement_scoring.report $(ARGS)

explain: venv ## Why a user's score is what it is, from the archive (ARGS="--user KEY --archive-dir DIR" or Athena flags)
	$(PY) -m engagement_scoring.explain $(ARGS)

rescore: venv ## Rescoring from the archive: preview the diff against user_scores, --apply to write it (ARGS="--scores-table T --archive-dir DIR" or Athena flags)
	$(PY) -m engagement_scoring.rescore $(ARGS)

bench: venv toolchain ## Run the benchmarks and write benchmarks/results.json
	$(PY) -m benchmarks $(ARGS)

clean: ## Remove build outputs (keeps the virtual environments)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv toolchain fmt lint checkov docs test test-unit test-reliability simulate deploy-localstack \
	localstack-up localstack-down redrive report explain rescore bench clean
