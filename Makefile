# kefu: the two set-up commands are `make install` and `make demo`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo run test test-pg lint check bench charts

install:  ## create the virtualenv, install kefu and its dev tools, compile translations, migrate
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(MAKE) charts || echo "charts: npm failed; the dashboards show tables without charts"
	KEFU_DEMO=$${KEFU_DEMO:-1} $(BIN)/kefu setup

CHARTS := src/kefu/analytics/static/analytics/vendor
ECHARTS ?= 5.6.0

charts:  ## the dashboards' chart library (ECharts from npm), served as a static file, not committed
	mkdir -p .cache/npm $(CHARTS)
	cd .cache/npm && npm install --no-save --no-audit --no-fund --silent echarts@$(ECHARTS)
	cp .cache/npm/node_modules/echarts/dist/echarts.min.js $(CHARTS)/echarts.min.js

demo:  ## migrate, load demo data and serve on http://127.0.0.1:8000/
	$(BIN)/kefu demo

run:
	$(BIN)/kefu run

test:  ## the test suite on SQLite (set KEFU_DATABASE_URL for PostgreSQL)
	$(BIN)/pytest

test-pg:
	KEFU_DATABASE_URL=$${KEFU_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/kefu} $(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	KEFU_DEBUG=1 $(BIN)/mypy

check: lint test

bench:  ## benchmarks print their figures; results and commands are in docs/benchmarks.md
	KEFU_DEBUG=1 $(BIN)/python bench/bench_workspace.py
	KEFU_DEBUG=1 $(BIN)/python bench/mail_ingest.py
