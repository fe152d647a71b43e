#!/usr/bin/env bash
# Idempotent: Debian's Chromium at /usr/bin/chromium for the browser test of the Dagster UI (tests/ui).
# Playwright drives this system browser; a browser download by Playwright itself (`playwright install`)
# does not work on these machines and is never run. Without apt-get or root this prints what to do and
# exits 0: tests/ui then skips with a message naming the missing browser.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[browser] $CHROMIUM missing and no apt-get here: install Chromium there yourself (tests/ui skips without it)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "[browser] $CHROMIUM missing: run 'sudo apt-get install -y chromium' (tests/ui skips without it)"
  exit 0
fi
echo "[browser] installing Debian's chromium with apt-get (about a minute)"
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q chromium >/dev/null; }
# Package lists can be empty on a fresh image: update them once when the first try finds no package.
if ! apt_install; then
  apt-get update -q >/dev/null && apt_install || true
fi
if [ -x "$CHROMIUM" ]; then
  echo "[browser] $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed"
else
  echo "[browser] WARNING: apt-get could not install chromium; tests/ui will be skipped"
fi
