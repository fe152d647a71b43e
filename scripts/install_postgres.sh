#!/usr/bin/env bash
# Idempotent: Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres) for tests/deploy, which start a
# throw-away server on 127.0.0.1 (tests/deploy/pg_server.py). No cluster is created or started here, and the
# package's own service is not needed. Without apt-get or root this prints what to do and exits 0: the
# PostgreSQL tests then skip with a message. .ci/run calls it before `make test`.
set -euo pipefail
have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if have_pg; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != "0" ]; then
  echo "[postgres] server binaries missing: run 'sudo apt-get install -y postgresql' (tests/deploy skips without them)"
  exit 0
fi
echo "[postgres] installing Debian's postgresql with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends postgresql >/dev/null
if have_pg; then
  echo "[postgres] $(ls /usr/lib/postgresql/*/bin/initdb | head -1) installed"
else
  echo "[postgres] WARNING: apt-get could not install postgresql; tests/deploy will skip"
fi
