# Tracepoint: `make run` (embedded: SQLite + filesystem broker) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# Marker files: the venv is (re)installed only when the requirements change.
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed

.PHONY: run test lint format install install-dev clean help

help:
	@echo "make run     install, migrate, load demo data, run web + worker + beat on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test    run the whole test suite in TEST_WORKERS=2 processes (SQLite, or PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make lint    ruff format --check, ruff check and the import contracts (lint-imports)"
	@echo "make format  ruff format and ruff check --fix"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -q -r requirements-dev.txt
	@touch $(RUNTIME_STAMP) $@

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	@scripts/run-embedded

# pytest-xdist: the suite runs in TEST_WORKERS processes (0: one process, as before), each with a
# test database and a cache key prefix of its own.
TEST_WORKERS ?= 2

test: $(DEV_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var
