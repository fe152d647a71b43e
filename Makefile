# The two commands of the README: `make demo` (set up + main job) and `make test` (set up + tests).
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test lint format-check ui clean-lake

# Paths whose formatting `make lint` checks (ruff format, pyproject settings): the whole tree since issue 16.
FORMATTED := .

setup:
	@bash scripts/setup.sh

demo: setup
	@$(BIN)/citrus demo

test: setup
	@$(BIN)/python -m pytest -q

# Lint and types (issue 16): ruff and its formatter on the whole tree, mypy on resources/ and the
# engines (training/, quality/; the files are listed in pyproject's [tool.mypy]).
lint: setup
	@$(BIN)/ruff check .
	@$(MAKE) -s format-check

# The formatter and mypy (also the pre-commit hook's check).
format-check:
	@$(BIN)/ruff format --check $(FORMATTED)
	@$(BIN)/mypy

# `make ui` creates the instance's tables first (one process), and warns when the instance is on SQLite and its run
# queue allows several runs at once (issue 14 item 15).
ui: setup
	@$(BIN)/python -c "from citrus_assets.cli import ensure_dagster_home as h; from citrus_assets.instance_check import prepare_ui_instance as p; p(h())"
	@$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean-lake:
	rm -rf lake .dagster_home
