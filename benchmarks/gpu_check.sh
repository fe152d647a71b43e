#!/usr/bin/env bash
# A ready GPU check (issue 17, goal 6): generation and TRL training throughput on one GPU, < 8 min on an H100.
#
#   benchmarks/gpu_check.sh OUT_DIR              # on a GPU machine with PyTorch + transformers, no network
#   benchmarks/gpu_check.sh --dry-run OUT_DIR    # the same code on CPU with a tiny model (CI)
#   benchmarks/gpu_check.sh --fetch-wheels [--python-version 3.12] [--with-core]
#                                                # where pip works: fill benchmarks/gpu_check_wheels/
#
# What the machine lacks travels beside this script as wheels in benchmarks/gpu_check_wheels/ (<= 64 MiB:
# TRL, datasets, dill, multiprocess and this project's wheel; --with-core adds accelerate, pyarrow, pandas,
# psutil, xxhash, filelock for a machine without them). Only the wheels whose distribution is missing are
# installed, into a temporary folder put first on PYTHONPATH. Results: OUT_DIR/gpu_check.md (+ .json, .log).
# $PYTHON picks the interpreter (default python3); $GPU_CHECK_WHEELS another wheel folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
wheels="${GPU_CHECK_WHEELS:-$here/gpu_check_wheels}"

if [ "${1:-}" = "--fetch-wheels" ]; then
  shift
  exec "$py" "$here/gpu_check.py" --fetch-wheels "$wheels" "$@"
fi

dry=()
out=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=(--dry-run) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) out="$arg" ;;
  esac
done
if [ -z "$out" ]; then
  echo "usage: $0 [--dry-run] OUT_DIR" >&2
  exit 2
fi
mkdir -p "$out"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRL_EXPERIMENTAL_SILENCE=1
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 WANDB_DISABLED=true
site=""
if compgen -G "$wheels/*.whl" > /dev/null; then
  site="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX")"
  trap 'rm -rf "$site"' EXIT
  "$py" "$here/gpu_check.py" --install-wheels "$wheels" --target "$site"
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
# This project's code: from its wheel (installed above) or, in a checkout, from the repository.
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(dirname "$here")"
"$py" "$here/gpu_check.py" "${dry[@]}" --out "$out"
