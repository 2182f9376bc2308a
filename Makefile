# The two commands that matter: `make run` and `make test`. Everything is installed into
# .venv from the hashed lock files in requirements/, so a fresh clone needs only Python
# 3.11+ and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TESTS := backend/tests/unit backend/tests/integration backend/tests/conformance backend/tests/contract backend/tests/external
# How many examples `make fuzz` tries per operation and generation mode (make test: 25).
FUZZ_EXAMPLES ?= 1000

.PHONY: help install run serve migrate test test-e2e fuzz lint typecheck format openapi lock clean
.PHONY: test-external lint-migrations

help:
	@echo "make run        migrate and serve on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test       lint, type-check and run the whole test suite"
	@echo "make test-e2e   the docs pages in headless Chromium (needs Debian's chromium)"
	@echo "make test-external  the PgBouncer and SSL suites (after .ci/setup-postgres-services.sh, as root)"
	@echo "make fuzz       the conformance tests with FUZZ_EXAMPLES (1000) examples, random seed"
	@echo "make serve      serve only (DATABASE_URL required, no migrations)"
	@echo "make migrate    apply migrations to DATABASE_URL"
	@echo "make openapi    rewrite specs/openapi.json from the code"
	@echo "make bench      load-test the API against a reference app with wrk; writes bench/RESULTS.md"
	@echo "make lock       re-resolve requirements/*.lock from pyproject.toml (with the locked uv)"

# The installer is locked too: the venv's bundled pip (whatever this interpreter ships)
# only installs the locked pip, and that pip installs everything else. Wheels only, so no
# setuptools or build backend outside a lock ever runs. specs/decisions/0010-installation.md.
PIP_INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check \
	--require-hashes --only-binary=:all:

$(INSTALLED): requirements/installer.lock requirements/dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --no-deps -r requirements/installer.lock
	$(PIP_INSTALL) -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/todo-api run

serve: $(INSTALLED)
	$(BIN)/todo-api serve

migrate: $(INSTALLED)
	$(BIN)/todo-api migrate

lint: lint-migrations
	$(BIN)/ruff check backend bench
	$(BIN)/ruff format --check backend bench

# squawk on the SQL of every migration after the first (which created the table empty),
# as Alembic's offline mode writes it; its settings and waivers: SQUAWK_CONFIG.
SQUAWK_CONFIG := backend/todo_api/db/alembic/squawk.toml
lint-migrations: $(INSTALLED)
	$(BIN)/todo-api migrate --sql --from 0001 > $(VENV)/migrations.sql
	$(BIN)/squawk --config $(SQUAWK_CONFIG) $(VENV)/migrations.sql

typecheck: $(INSTALLED)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(TESTS)

# Starts its own server (embedded PostgreSQL) and drives /docs and /redoc in Chromium;
# screenshots go to backend/tests/artifacts/.
test-e2e: $(INSTALLED)
	$(BIN)/pytest backend/tests/e2e --no-cov

# The suites that need the real PgBouncer and SSL-only PostgreSQL that
# .ci/setup-postgres-services.sh starts (as root; it writes their URLs to SERVICES_ENV):
# backend/tests/external, then the integration suite three more times with the app
# reaching its database through PgBouncer (pooled mode, TLS, channel_binding=require),
# over SSL with sslmode=require, and with verify-full. The modules that never use the app's
# route are left out of those re-runs: migrations (pytest-alembic), the commands on the
# embedded or an unreachable server, and the outages of a server of their own.
SERVICES_ENV ?= /tmp/todo-api-ci-services/services.env
REROUTED := backend/tests/integration --no-cov \
	--ignore=backend/tests/integration/test_migrations.py \
	--ignore=backend/tests/integration/test_server_process.py \
	--ignore=backend/tests/integration/test_deployment_commands.py \
	--ignore=backend/tests/integration/test_resilience.py
test-external: $(INSTALLED)
	@test -f $(SERVICES_ENV) || { echo "$(SERVICES_ENV) not found: run .ci/setup-postgres-services.sh (as root) first" >&2; exit 1; }
	set -a && . $(SERVICES_ENV) && set +a && export TEST_EXTERNAL_REQUIRED=1 && \
	$(BIN)/pytest backend/tests/external --no-cov && \
	TEST_APP_DATABASE_URL="$$TEST_PGBOUNCER_URL" DB_POOLED=true $(BIN)/pytest $(REROUTED) && \
	TEST_APP_DATABASE_URL="$$TEST_PG_SSL_REQUIRE_URL" $(BIN)/pytest $(REROUTED) && \
	TEST_APP_DATABASE_URL="$$TEST_PG_SSL_VERIFY_FULL_URL" $(BIN)/pytest $(REROUTED)

# FUZZ_SEED=N replays the schemathesis examples of a run (its seed is printed at the top).
# Many more examples take longer than the per-test limit of make test, hence their own.
fuzz: $(INSTALLED)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest backend/tests/conformance --no-cov --timeout=3600

format: $(INSTALLED)
	$(BIN)/ruff check --fix backend bench
	$(BIN)/ruff format backend bench

openapi: $(INSTALLED)
	$(BIN)/python -m todo_api.openapi > specs/openapi.json

# Not in the .PHONY list above: bench/ is also a directory, which make would otherwise
# consider up to date. BENCH_QUICK=1 for a two-minute trial; see bench/README.md.
.PHONY: bench
bench: $(INSTALLED)
	$(BIN)/python -m bench

lock: $(INSTALLED)
	$(BIN)/uv pip compile requirements/installer.in --python-version 3.11 --generate-hashes --no-header -q -o requirements/installer.lock
	$(BIN)/uv pip compile requirements/build.in --python-version 3.11 --generate-hashes --no-header -q -o requirements/build.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --no-header -q -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev --python-version 3.11 --generate-hashes --no-header -q -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
