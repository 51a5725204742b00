# The two commands: `make run` (Studio on the embedded default, with demo data) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR := $(or $(STUDIO_DATA_DIR),.data)
# The full-stack pass of `make test` (PostgreSQL + Redis + an S3 server on 127.0.0.1).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/studio
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(DATA_DIR)/secret_key:
	mkdir -p $(DATA_DIR)
	$(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

run: $(VENV)/.installed $(DATA_DIR)/secret_key
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py serve

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/python tests/run_suite.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
