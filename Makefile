# The two commands of the README: `make demo` (set up + main job) and `make test` (set up + tests).
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test ui clean-lake

setup:
	@bash scripts/setup.sh

demo: setup
	@$(BIN)/citrus demo

test: setup
	@$(BIN)/python -m pytest -q

# `make ui` warns when the instance is on SQLite and its run queue allows several runs at once (issue 14 item 15).
ui: setup
	@$(BIN)/python -c "from citrus_assets.cli import ensure_dagster_home as h; from citrus_assets.instance_check import warn_if_sqlite_concurrent as w; w(h())"
	@$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean-lake:
	rm -rf lake .dagster_home
