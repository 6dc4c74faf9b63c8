#!/usr/bin/env bash
# One command on a fresh machine: install everything the tests need, then run them.
#  - Python packages into .venv (requirements-dev.txt)
#  - Debian packages: chromium (browser tests) and postgresql (store tests), when missing
#  - a PostgreSQL server on loopback with a throw-away role/database (LAB_TEST_POSTGRES_URL)
#  - real data from ../shared/datasets (or LAB_SHARED_DATASETS)
#  - the sign-in tests' OpenID Connect provider (tests/oidc, npm ci) when Node.js and npm are installed
#   ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
can_root() { [ "$(id -u)" = "0" ] || [ -n "$SUDO" ]; }

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if can_root; then
    echo "==> installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "!! cannot install ${need[*]} (not root, no sudo): the tests needing them will skip with a reason"
  fi
fi

DEV=1 ./scripts/setup.sh
VENV="${LAB_VENV:-.venv}"

# The sign-in tests' identity provider (npm package oidc-provider, pinned by tests/oidc/package-lock.json),
# with this machine's Node.js and npm; without them those tests skip with the reason.
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
  if [ ! -f tests/oidc/node_modules/.package-lock.json ] || [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.package-lock.json ]; then
    echo "==> installing the test identity provider (npm ci in tests/oidc)"
    (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error) \
      || echo "!! npm ci failed in tests/oidc: the sign-in tests will skip with a reason"
  fi
else
  echo "!! Node.js/npm not found: the sign-in tests (tests/e2e/test_login.py) will skip with a reason"
fi

# PostgreSQL on loopback for the store tests (skipped with a reason when unavailable).
if [ -z "${LAB_TEST_POSTGRES_URL:-}" ] && can_root && command -v pg_lsclusters >/dev/null 2>&1; then
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | grep -q .; then $SUDO pg_createcluster "$ver" main >/dev/null; fi
  cl=$(pg_lsclusters -h | head -1 | awk '{print $1" "$2}')
  $SUDO pg_ctlcluster $cl start 2>/dev/null || true
  port=$(pg_lsclusters -h | head -1 | awk '{print $3}')
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
  done
  as_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi; }
  as_pg psql -p "$port" -qtAc "SELECT 1 FROM pg_roles WHERE rolname='lab'" | grep -q 1 \
    || as_pg psql -p "$port" -qc "CREATE ROLE lab LOGIN PASSWORD 'lab' CREATEDB" >/dev/null
  as_pg psql -p "$port" -qtAc "SELECT 1 FROM pg_database WHERE datname='lab_test'" | grep -q 1 \
    || as_pg createdb -p "$port" -O lab lab_test
  export LAB_TEST_POSTGRES_URL="postgresql+psycopg://lab:lab@127.0.0.1:${port}/lab_test"
  echo "==> PostgreSQL at $LAB_TEST_POSTGRES_URL"
fi

export LAB_SHARED_DATASETS="${LAB_SHARED_DATASETS:-$ROOT/../shared/datasets}"
export TF_CPP_MIN_LOG_LEVEL=2
# lint first (seconds): the configuration is in pyproject.toml
echo "==> ruff check"
"$VENV/bin/ruff" check .
# Two test processes by default (pytest-xdist, whole modules per process, so that a module's fixtures
# -- a trained store, a server, a browser -- are made once): 1,094 tests took 30:29 in one process and
# 17:54 in two on a 2-core machine, most tests waiting on a browser, a server or a worker process.
# LAB_TEST_WORKERS=0 runs them in this process; an explicit -n or -p no:xdist in the arguments wins.
xdist=()
workers="${LAB_TEST_WORKERS:-2}"
case " $* " in
  *" -n "*|*" -n="*|*" --numprocesses"*|*"no:xdist"*) ;;
  *) if [ "$workers" != "0" ]; then xdist=(-n "$workers" --dist loadfile); fi ;;
esac
exec "$VENV/bin/python" -m pytest ${xdist[@]+"${xdist[@]}"} "$@"
