# kldrift: the two commands.  `make run` (demo job through Airflow) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AIRFLOW_ENV := AIRFLOW_HOME=$(CURDIR)/.airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False KLDRIFT_CONFIG_DIR=$(CURDIR)/configs
DEMO_DATE ?= $(shell date -u +%F)

.PHONY: install run test test-fast lint typecheck pytest browser docs lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the lock file or the project metadata change.
$(STAMP): requirements.lock pyproject.toml setup.py kldrift/_native.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	# Bytecode at install time: every kldrift, pytest and Airflow process starts without
	# recompiling pandas, scipy and Airflow, even where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q -j 0 kldrift dags > /dev/null
	touch $(STAMP)

install: $(STAMP)

# The demo job through Airflow: demo data whose seven days end the day before $(DEMO_DATE) (default: today,
# UTC), a SQLite Airflow in .airflow/, one DAG run for $(DEMO_DATE) (a daily run scores the day before its
# logical date). Re-runnable, any day; the files are overwritten.
run: install
	$(BIN)/kldrift demo-data --out .demo \
		--first-day $$($(BIN)/python -c 'import datetime as d; print(d.date.fromisoformat("$(DEMO_DATE)") - d.timedelta(days=7))')
	@mkdir -p .airflow
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > .airflow/db-migrate.log 2>&1 || { tail -n 30 .airflow/db-migrate.log; exit 1; }
	$(AIRFLOW_ENV) $(BIN)/airflow dags test kldrift__demo $(DEMO_DATE) > .airflow/dags-test.log 2>&1 \
		|| { tail -n 40 .airflow/dags-test.log; echo "airflow dags test failed: see .airflow/dags-test.log"; exit 1; }
	@ds=$$($(BIN)/python -c 'import datetime as d; print(d.date.fromisoformat("$(DEMO_DATE)") - d.timedelta(days=1))'); \
	dir=$(CURDIR)/out/demo/dt=$$ds; \
	echo "DAG run kldrift__demo $(DEMO_DATE) succeeded: scored dt=$$ds (Airflow log: .airflow/dags-test.log)"; \
	echo "alerts: $$dir/alerts.jsonl ($$(wc -l < $$dir/alerts.jsonl | tr -d ' ') alert rows)"; \
	echo "report: $$dir/report.html"

lint: install
	$(BIN)/ruff check kldrift dags tests benchmarks scripts
	$(BIN)/ruff format --check kldrift dags tests benchmarks scripts

typecheck: install
	$(BIN)/mypy

# The report's browser test renders pages in a real headless Chromium (Debian package).
browser:
	sh scripts/ensure-system-packages.sh

pytest: install browser
	$(BIN)/pytest -q

test: lint typecheck pytest docs

# The documentation site (docs/, mkdocs.yml) into site/. Strict: a broken link, nav entry or docstring
# fails the build; the hooks in scripts/docs_hooks.py generate the config and CLI references and refuse a
# page that would fetch anything from the network.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The inner loop (under a minute): lint and every test but the slow, Airflow and browser ones.
# `make test` and CI run everything.
test-fast: lint
	$(BIN)/pytest -q -m "not slow and not airflow and not browser"

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu -o requirements.lock

bench: install
	$(BIN)/python benchmarks/bench_compare.py

clean:
	rm -rf .demo out .airflow site .pytest_cache .mypy_cache .ruff_cache
