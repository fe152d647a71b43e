#!/usr/bin/env bash
# Rewrites constraints.txt from the working .venv (pip freeze without the project itself); run after a
# dependency change in pyproject.toml, once `make setup` has installed it, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CITRUS_VENV:-.venv}
{
  echo "# Every package of the working environment, pinned (pip freeze, without the project itself): scripts/setup.sh"
  echo "# installs with -c constraints.txt. Regenerate after a dependency change: scripts/freeze_constraints.sh"
  # the CPU wheel's local version (+cpu) is left off: ==2.13.0 matches it and the plain wheel alike
  "$VENV/bin/python" -m pip freeze --exclude-editable | grep -v '^-e \|^#\|^citrus-lake' | sed -E 's/^(torch==[0-9.]+)\+cpu$/\1/'
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
