# Player Platform: two commands matter, `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help venv run test services lint fmt bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: ## create .venv and install requirements.lock + the project (only when they changed)
	@scripts/venv.sh

run: venv ## serve the embedded shape on http://127.0.0.1:8080 with a bootstrap admin
	@scripts/run.sh

services: ## start PostgreSQL, Redis and RabbitMQ when they are not answering
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

bench: venv services ## run every benchmark scenario in bench/ and record it in BENCHMARKS.md
	@failed=""; for script in bench/*.py; do \
		case "$$script" in bench/wrk.py|bench/_*) continue;; esac; \
		echo "==> $$script"; $(BIN)/python "$$script" || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "make bench: FAILED:$$failed"; exit 1; fi

clean: ## remove var/ and caches (keeps .venv)
	rm -rf var .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist bench/results
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
