# Himitsu — `make run` serves the demo register, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
BIN := $(VENV)/bin
# Python >= 3.12: the version in .python-version through pyenv, else python3.12/3.13 on PATH.
PYTHON ?= $(shell pyenv which python 2>/dev/null || command -v python3.12 || command -v python3.13)
HIMITSU_HOME ?= $(CURDIR)/var
export HIMITSU_HOME
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-sqlite test-postgres test-fast browser servers bench lint messages clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml setup.py src/himitsu/engine/_siphash.c src/himitsu/engine/_match.c src/himitsu/engine/_siphash24.h src/himitsu/engine/_text.c src/himitsu/engine/_xlsx.c
	@test -n "$(PYTHON)" || { echo "Python 3.12+ not found (pyenv install 3.12, or set PYTHON=...)"; exit 2; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), sys.version' \
		|| { echo "$(PYTHON) is older than 3.12"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

## Debian's Chromium and Japanese fonts for the browser tests (no browser download).
browser:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
		else echo "Install Debian's chromium and fonts-noto-cjk (sudo apt-get install chromium fonts-noto-cjk)"; exit 2; fi; \
	fi

## Debian's Samba for the scanner's SMB tests (the tests start their own smbd on 127.0.0.1).
servers:
	@if ! command -v smbd >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba >/dev/null; \
		else echo "Install Debian's samba (sudo apt-get install samba)"; exit 2; fi; \
	fi

run: install
	$(BIN)/himitsu serve --demo --host $(HOST) --port $(PORT)

## The whole suite on SQLite, then again on PostgreSQL (browser tests included in both).
test: install browser servers test-sqlite test-postgres

test-sqlite: install
	$(BIN)/pytest -q

test-postgres: install
	HIMITSU_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

## Quick loop while developing: SQLite, no browser.
test-fast: install
	$(BIN)/pytest -q -m "not browser"

bench: install
	$(BIN)/python -m tests.bench.run
	$(BIN)/python -m tests.bench.detect
	$(BIN)/python -m tests.bench.scan
	$(BIN)/python -m tests.bench.guard
	$(BIN)/python -m tests.bench.insider

lint: install
	$(BIN)/ruff check src tests

## Refresh the translation catalogue after changing texts (then translate the new entries).
messages: install
	cd src/himitsu && ../../$(BIN)/django-admin makemessages -l ja -l en --no-obsolete --settings himitsu.web.settings
	cd src/himitsu && ../../$(BIN)/django-admin compilemessages --settings himitsu.web.settings

clean:
	rm -rf $(VENV) .pytest_cache
