# Two commands on a fresh machine: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= var
DEMO_DIR := sample_data/demo
DEMO_DECLARATIONS ?= 300000
DEMO_MONTHS ?= 24
HOST ?= 127.0.0.1
PORT ?= 8050
# Web worker processes of `make run` (gunicorn); 0 = Flask's development server.
WEB_WORKERS ?= 2
CLI := $(BIN)/customs-kpi

.PHONY: run test test-fast test-integration test-browser checks install demo-data load-demo serve worker bench bench-quick lint typecheck deadcode system-deps browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Demo data with known ground truth (sample_data/demo is not committed: it is generated).
$(DEMO_DIR)/ground_truth.json: | $(VENV)/.installed
	$(CLI) sample --out $(DEMO_DIR) --declarations $(DEMO_DECLARATIONS) --months $(DEMO_MONTHS) --seed 42

demo-data: $(DEMO_DIR)/ground_truth.json

# Loading is idempotent (content hash): running it again changes nothing.
load-demo: demo-data
	$(CLI) load-profiles $(DEMO_DIR)/profiles.csv --changes $(DEMO_DIR)/profile_changes.csv --home $(HOME_DIR)
	$(CLI) load $(DEMO_DIR)/declarations_*.csv --home $(HOME_DIR)
	$(CLI) users demo --home $(HOME_DIR)

run: system-deps load-demo
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl-C stops web app and worker)"
	@$(CLI) worker --home $(HOME_DIR) & worker=$$!; \
	trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	$(CLI) serve --home $(HOME_DIR) --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS)

serve: install
	$(CLI) serve --home $(HOME_DIR) --host $(HOST) --port $(PORT)

worker: install
	$(CLI) worker --home $(HOME_DIR)

# Debian's Chromium (browser tests with Playwright, never `playwright install`; chart images in
# the PDF reports through kaleido), fonts for the reports, poppler for the PDF tests.
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core poppler-utils >/dev/null) \
	      || echo "warning: could not install chromium: browser tests are skipped, PDF reports have no charts"; \
	  else echo "note: not root and chromium missing: browser tests are skipped, PDF reports have no charts"; fi; \
	fi
	@if ! command -v pdftoppm >/dev/null && [ "$$(id -u)" = "0" ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null || true; fi

browser-deps: system-deps

# The whole suite: static checks first (lint, layering, types, dead code; outside pytest), then
# the three tiers (tests/unit, tests/integration, tests/browser) with two workers.
test: install system-deps checks
	$(BIN)/pytest -q -n 2 --dist loadfile

# The unit tier alone: pure functions on hand-made data, no warehouse, no server, no browser
# (well under a minute). `make test-integration` / `make test-browser` run one other tier.
test-fast: install
	$(BIN)/pytest -q -n 2 tests/unit

test-integration: install
	$(BIN)/pytest -q -n 2 --dist loadfile tests/integration

test-browser: install system-deps
	$(BIN)/pytest -q -n 2 --dist loadfile tests/browser

checks: lint typecheck deadcode

# ruff (lint + format) and the import-linter layering contracts of pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

# Dead code (settings in pyproject.toml [tool.vulture]; false positives in vulture_whitelist.py).
deadcode: install
	$(BIN)/vulture

# Benchmarks: SCALES is a list of declaration counts (default 1 M and 10 M).
SCALES ?= 1000000 10000000
bench: install
	$(BIN)/python -m bench --scales $(SCALES)

bench-quick: install
	$(BIN)/python -m bench --scales 200000

clean:
	rm -rf $(HOME_DIR) $(DEMO_DIR) test-output bench/out
