# The two commands of the README: `make demo` (set up + main job) and `make test` (set up + tests).
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test lint format-check ui clean-lake

# Paths whose formatting `make lint` checks (ruff format, pyproject settings). The rest of the tree was
# written before the formatter came in (issue 16): format a folder when no one else is editing it, then
# add it here. Code versions do not depend on formatting (they hash version strings and prompt files).
FORMATTED := quality training scripts/architecture_metrics.py resources/inbox.py resources/lineage/ids.py \
	resources/lineage/schema.py tests/platform/test_import_cycles.py tests/platform/test_load_result.py \
	tests/platform/test_import_layers.py tests/platform/test_docs_paths.py \
	tests/lineage/test_gen_columns.py tests/training/test_trainer_kinds.py tests/training/test_run_key_canonical_json.py \
	tests/deploy tests/drills/test_drill_postgres_instance.py citrus_assets/instance_check.py benchmarks/instance_concurrency.py

setup:
	@bash scripts/setup.sh

demo: setup
	@$(BIN)/citrus demo

test: setup
	@$(BIN)/python -m pytest -q

# Lint and types (issue 16): ruff on the whole tree, the formatter on FORMATTED, mypy on resources/ and the
# engines (training/, quality/; the files are listed in pyproject's [tool.mypy]).
lint: setup
	@$(BIN)/ruff check .
	@$(MAKE) -s format-check

# The formatter on FORMATTED only (also the pre-commit hook's check).
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
