# The two commands: `make run` (the whole platform, embedded) and `make test`.
# Every target installs what it needs into .venv first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# uv itself, pinned with its hashes in deploy/uv-bootstrap.txt, lives beside the environment it
# manages (not inside its site-packages, which `uv sync` keeps exactly equal to uv.lock).
UV     := $(VENV)/uv/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install lock lock-check proto proto-check lint test test-unit run bench bench-smoke browser clean

# Installs exactly uv.lock (every package at its locked version, checked against its hashes);
# `--locked` refuses to run when pyproject.toml and uv.lock disagree.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --quiet --locked --extra dev --python $(PY)
	@touch $@

$(UV): deploy/uv-bootstrap.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed" or 0)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
	  --upgrade --target $(VENV)/uv -r deploy/uv-bootstrap.txt
	@touch $@

install: $(STAMP)

# Updates uv.lock to the newest versions that pyproject.toml allows; commit the result.
lock: $(UV)
	$(UV) lock --upgrade

# Fails when uv.lock does not satisfy pyproject.toml (a dependency added or a bound changed
# without `make lock`). Needs no network.
lock-check: $(UV)
	@$(UV) lock --check --offline --quiet && echo "uv.lock matches pyproject.toml" \
	  || { echo "uv.lock is out of date with pyproject.toml: run 'make lock' and commit"; exit 1; }

# Regenerate the Python code of proto/ (never edit smartcity/ by hand), then the AsyncAPI
# document of the events (proto/asyncapi.json) from proto/ and the services' event registry.
proto: install
	PYTHON=$(PY) proto/generate.sh
	$(PY) proto/asyncapi.py

# Fails when the committed generated code, or proto/asyncapi.json, differs from what proto/
# (and the event registry) generates.
proto-check: install
	@tmp=$$(mktemp -d) && PYTHON=$(PY) proto/generate.sh $$tmp >/dev/null \
	  && diff -r -x __pycache__ $$tmp/smartcity smartcity && diff -r -x __pycache__ $$tmp/buf buf \
	  && rm -rf $$tmp && echo "generated code matches proto/" \
	  || { echo "generated code drifted from proto/: run 'make proto' and commit"; exit 1; }
	@tmp=$$(mktemp) && trap 'rm -f "$$tmp"' EXIT && $(PY) proto/asyncapi.py $$tmp \
	  && { diff -u proto/asyncapi.json $$tmp \
	    || { echo "proto/asyncapi.json drifted from proto/ and the event registry: run 'make proto' and commit"; exit 1; }; } \
	  && echo "proto/asyncapi.json matches proto/ and the event registry"

lint: install lock-check proto-check
	$(PY) proto/lint.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# -rs: the summary says why a test was skipped (no Chromium: run `make browser`; no PostgreSQL)
test: install lock-check proto-check
	$(VENV)/bin/pytest -rs

test-unit: install
	$(VENV)/bin/pytest tests/unit

run: install
	$(VENV)/bin/smartcity up

# What the portal's browser tests (tests/browser) need besides .venv: Debian's Chromium and
# chromedriver and a Chinese font (installed with apt-get when missing; nothing when present),
# and axe-core from tests/browser/package-lock.json. Without them `make test` skips those tests.
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-microhei
AXE := tests/browser/node_modules/axe-core/axe.min.js
browser: $(AXE)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	    && fc-list ':lang=zh' family | grep -q .; then \
	  echo "chromium, chromedriver and a Chinese font are installed"; \
	else \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    $(BROWSER_PACKAGES); \
	fi

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@touch $@

bench: install
	$(PY) -m bench

# Every benchmark on tiny data (about a minute): the scenarios complete with no errors; no timing
# is judged. `make test` runs it too (tests/integration/test_bench_smoke.py).
bench-smoke: install
	$(PY) -m bench --smoke

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
