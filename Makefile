# kefu: the two set-up commands are `make install` and `make demo`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo run test test-pg lint check bench

install:  ## create the virtualenv, install kefu and its dev tools, compile translations, migrate
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	KEFU_DEMO=$${KEFU_DEMO:-1} $(BIN)/kefu setup

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
