# Spool: `make run` serves the app, `make test` checks everything. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Django 6 needs Python >= 3.12. A pyenv shim can exist and still fail, so each
# candidate must actually run and report a recent enough version.
PY_OK := import sys; sys.exit(sys.version_info < (3, 12))
PYTHON ?= $(shell \
  for p in python3.13 python3.12 python3 \
           $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3 \
           $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3; do \
    if [ -x "$$(command -v $$p 2>/dev/null)" ] && $$p -c '$(PY_OK)' 2>/dev/null; then \
      command -v $$p; exit 0; fi; \
  done)

.PHONY: help run test check lint typecheck pytest chromium nginx a11y-tools bench clean

help:
	@echo "make run    - set up and serve Spool on http://$(HOST):$(PORT)/"
	@echo "make test   - set up and run lint, type checks and all tests"
	@echo "make bench  - the serving benchmark (~6 min; BENCH_ARGS=--quick: ~75 s)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Spool needs Python 3.12 or newer (3.13 preferred): install python3.13 or 'pyenv install 3.13'." >&2; \
	  exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet ".[dev]"
	@touch $@

$(VENV)/.bench: $(VENV)/.runtime
	$(BIN)/pip install --quiet ".[bench]"
	@touch $@

# Static files as in production: hashed names, gzip/brotli copies, served by
# WhiteNoise (SPOOL_STATIC_MANIFEST=0 make run serves static/ as it is).
run: export SPOOL_STATIC_MANIFEST ?= 1
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/daphne -e tcp:port=$(PORT):interface=$(HOST):backlog=1024 chatapp.asgi:application

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; }

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# bench/ imports the bench extras (FastAPI, sse-starlette, uvloop): typed, so checked.
typecheck: $(VENV)/.dev $(VENV)/.bench
	$(BIN)/mypy chatapp streaming bench tests

# The proxy tests run Spool behind Debian's nginx, started by the test itself
# on a loopback port (the package's own service is not needed).
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing Debian's nginx for the proxy tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >/dev/null; }

# The accessibility tests inject axe-core and a virtual screen reader into the
# page (tests/e2e/a11y.py). Both come pinned from npm into a folder this
# Makefile owns (package-lock.json); the screen reader, an ES module, is
# bundled into one script. Debian's nodejs/npm are installed if missing.
A11Y_TOOLS := .npm-tools
# npm ci writes this file last: it stands for a complete install.
A11Y_INSTALLED := $(A11Y_TOOLS)/node_modules/.package-lock.json
A11Y_BUNDLE := $(A11Y_TOOLS)/dist/virtual-screen-reader.js
a11y-tools: $(A11Y_BUNDLE)
$(A11Y_INSTALLED): $(A11Y_TOOLS)/package.json $(A11Y_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "Installing Debian's nodejs and npm for the accessibility test tools..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null; }
	cd $(A11Y_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
$(A11Y_BUNDLE): $(A11Y_INSTALLED) $(A11Y_TOOLS)/vsr-entry.js
	cd $(A11Y_TOOLS) && npm run --silent build

pytest: $(VENV)/.dev chromium nginx a11y-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The serving benchmark: Spool against FastAPI + sse-starlette and a bare ASGI
# app, each started here on a loopback port (docs/performance.md, Serving path).
bench: $(VENV)/.bench
	$(BIN)/python -m bench.streams $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache staticfiles $(A11Y_TOOLS)/node_modules $(A11Y_TOOLS)/dist
