# The two commands that matter: `make run` and `make test`. Everything is installed into
# .venv from the hashed lock files in requirements/, so a fresh clone needs only Python
# 3.11+ and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TESTS := backend/tests/unit backend/tests/integration backend/tests/contract

.PHONY: help install run serve migrate test lint typecheck format openapi lock clean

help:
	@echo "make run        migrate and serve on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test       lint, type-check and run the whole test suite"
	@echo "make serve      serve only (DATABASE_URL required, no migrations)"
	@echo "make migrate    apply migrations to DATABASE_URL"
	@echo "make openapi    rewrite specs/openapi.json from the code"
	@echo "make lock       re-resolve requirements/*.lock from pyproject.toml (needs uv)"

$(INSTALLED): requirements/dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/todo-api run

serve: $(INSTALLED)
	$(BIN)/todo-api serve

migrate: $(INSTALLED)
	$(BIN)/todo-api migrate

lint: $(INSTALLED)
	$(BIN)/ruff check backend bench
	$(BIN)/ruff format --check backend bench

typecheck: $(INSTALLED)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(TESTS)

format: $(INSTALLED)
	$(BIN)/ruff check --fix backend bench
	$(BIN)/ruff format backend bench

openapi: $(INSTALLED)
	$(BIN)/python -m todo_api.openapi > specs/openapi.json

lock:
	uv pip compile requirements/build.in --python-version 3.11 --generate-hashes --no-header -q -o requirements/build.lock
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --no-header -q -o requirements/runtime.lock
	uv pip compile pyproject.toml requirements/build.in --extra dev --python-version 3.11 --generate-hashes --no-header -q -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
