# jitev developer entry points (GNU make).
#
#   make demo        the guided demo in ./.jitev/demo
#   make serve       the web UI and API on the demo data: http://127.0.0.1:8000/
#   make test        start the test servers, run pytest, stop them (PYTEST_ARGS="-k foo -x")
#   make bench       the same servers, then bench/ingest.py (with web.py's upload), dispatch.py, bundle.py, ledger.py, scale.py (BENCH=web: one)
#   make lint        ruff + mypy
#   make servers-up / servers-down   the test servers by hand (scripts/test-servers.sh)
#
# Test server ports and directories come from the environment, e.g.
#   JITEV_RGW_PORT=7490 JITEV_RGW_MON_PORT=3390 JITEV_RGW_MON_V1_PORT=6799 make test
# (see scripts/rgw.sh and scripts/postgres.sh).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=

JITEV_RGW_DIR ?= $(CURDIR)/.test-servers/rgw
JITEV_PG_PORT ?= 5432
export JITEV_RGW_DIR JITEV_PG_PORT
TEST_PG_URL := postgresql+psycopg://postgres@127.0.0.1:$(JITEV_PG_PORT)/test

# Install the outside tools the tests run (b3sum, qpdf, chromium: scripts/tools.sh), start
# the servers, export what the tests read, run $(RUN), and stop the servers on
# any exit (success, failure, Ctrl-C) keeping the status of $(RUN).
define with_servers
	set -euo pipefail; \
	scripts/tools.sh; \
	trap 'scripts/test-servers.sh down' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	scripts/test-servers.sh up >/dev/null; \
	source "$(JITEV_RGW_DIR)/env"; \
	export JITEV_TEST_REQUIRE_SERVERS=1 JITEV_TEST_PG_URL='$(TEST_PG_URL)'; \
	echo "S3 $$JITEV_TEST_S3_ENDPOINT, PostgreSQL $$JITEV_TEST_PG_URL"; \
	$(RUN)
endef

.PHONY: help venv demo serve test bench lint servers-up servers-down

help:
	@sed -n '2,9s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

venv: $(STAMP)

$(PY):
	python3 -m venv $(VENV)

# Re-install when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	JITEV_HOME=$(CURDIR)/.jitev/demo $(VENV)/bin/jitev demo

serve: $(STAMP)
	JITEV_HOME=$(CURDIR)/.jitev/demo $(VENV)/bin/jitev serve

test: RUN = $(PY) -m pytest $(PYTEST_ARGS)
test: $(STAMP)
	@$(with_servers)

# BENCH: which of bench/*.py to run, in order; BENCH_ARGS go to each of them
# (--quick --json --skip-s3 --size-gib --repeat --keep are common to all).
# bench/ingest.py runs bench/web.py's workload too (BENCH=web: that one alone).
# scripts/tools.sh --bench: the baselines' tools (hashdeep, rclone) besides the tests'.
bench: BENCH ?= ingest dispatch bundle ledger scale client
bench: RUN = scripts/tools.sh --bench; for b in $(BENCH); do $(PY) bench/$$b.py $(BENCH_ARGS); done
bench: $(STAMP)
	@$(with_servers)

lint: $(STAMP)
	@rc=0; \
	$(VENV)/bin/ruff check . || rc=1; \
	$(VENV)/bin/mypy || rc=1; \
	exit $$rc

servers-up:
	@scripts/test-servers.sh up

servers-down:
	@scripts/test-servers.sh down
