# Player Platform: two commands matter, `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help venv run test services lint fmt bench bench-deep clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: ## create .venv and install requirements-dev.lock + the project (only when they changed)
	@scripts/venv.sh

run: venv ## serve the embedded shape on http://127.0.0.1:8080 (RUN_HOST, RUN_PORT)
	@scripts/run.sh

services: ## start PostgreSQL, Redis, RabbitMQ and clamd (the test suite's) when not answering
	@scripts/services.sh

test: venv services ## lint, then the test suite in the production and the embedded shape
	@scripts/test.sh

lint: venv ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv ## format the code and apply safe lint fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv services ## the census of every route (bench/census.py): rewrites BENCHMARKS.md
	$(BIN)/python bench/census.py

bench-deep: venv services ## the deep dives, one per domain (bench/<domain>.py): bench/DEEP_DIVES.md
	@failed=""; for script in bench/identity.py bench/commerce.py bench/leaderboards.py bench/ugc.py bench/jobs.py; do \
		echo "==> $$script"; $(BIN)/python "$$script" || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "make bench-deep: FAILED:$$failed"; exit 1; fi

clean: ## delete var/ (ALL local data) and caches, keeps .venv; asks first unless FORCE=1
	@FORCE=$(FORCE) scripts/clean.sh
