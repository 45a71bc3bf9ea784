# Careline: `make run` runs it, `make test` tests it, `make bench` measures it. Nothing else is needed.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The console's browser packages (package.json): `npm ci` again whenever the lock file changes.
NPM_STAMP := node_modules/.installed-$(shell cksum package-lock.json | cut -d' ' -f1)

.PHONY: install run test test-sqlite test-postgresql bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	rm -f $(VENV)/.installed-*; touch $@

# --ignore-scripts: the packages are served as built files; no package runs code on this machine at install.
$(NPM_STAMP): package-lock.json
	scripts/ensure-node.sh
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
	rm -f node_modules/.installed-*; touch $@

install: $(STAMP) $(NPM_STAMP)

.env:
	scripts/make-env.sh

# PROMETHEUS_MULTIPROC_DIR: where every process (gunicorn's workers, the RQ worker) writes its metrics for
# GET /metrics to add up (careline/prometheus.py); emptied at each start, before any process writes there.
run: install .env
	set -a; . ./.env; set +a; \
	export PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/instance/prometheus}"; \
	rm -rf "$$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$$PROMETHEUS_MULTIPROC_DIR" && \
	scripts/ensure-redis.sh && \
	$(VENV)/bin/careline db upgrade && \
	$(VENV)/bin/careline queue upgrade-keys && \
	$(VENV)/bin/careline config load config/demo.toml && \
	scripts/print-urls.sh && \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile web worker cron

# The layers first (import-linter: the contract in pyproject.toml, docs/architecture.md), then the whole suite
# twice, on SQLite and on PostgreSQL, both against a real Redis: the two passes run at once
# (scripts/test-passes.sh), or one after the other as `make test-sqlite` and `make test-postgresql`. The
# PostgreSQL pass runs with the wall clock moved a random number of days (within about a year either way; the
# summary line says how many): the suite must pass on any date. CARELINE_TEST_DAYS=N replays a run; 0 keeps today.
test: install
	$(VENV)/bin/lint-imports --no-cache
	scripts/ensure-redis.sh
	scripts/ensure-postgres.sh || echo "no system PostgreSQL; the tests will start a throwaway one"
	scripts/ensure-chromium.sh
	MAKE="$(MAKE)" scripts/test-passes.sh

test-sqlite: install
	CARELINE_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider

test-postgresql: install
	CARELINE_TEST_DB=postgresql CARELINE_TEST_DAYS=$${CARELINE_TEST_DAYS:-random} $(PY) -m pytest -q -p no:cacheprovider

bench: install
	scripts/ensure-redis.sh
	scripts/ensure-postgres.sh || true
	$(PY) -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache
