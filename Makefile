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

ui: setup
	@$(BIN)/python -c "from citrus_assets.cli import ensure_dagster_home; ensure_dagster_home()"
	@$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean-lake:
	rm -rf lake .dagster_home
