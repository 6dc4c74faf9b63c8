#!/usr/bin/env bash
# One command on a fresh machine: set up, then start the lab on the embedded digits set.
#   ./scripts/run_app.sh [extra streamlit args, e.g. --server.port 8502]
# Without sign-in (no [auth] in .streamlit/secrets.toml) it listens on 127.0.0.1 only; serving it to
# others is an explicit --server.address 0.0.0.0 (every page then warns). Sign-in: docs/AUTH.md.
# The dashboard also runs the job queue: its supervisor starts with the server (scripts/serve.py),
# resumes queued runs and marks runs whose worker died as interrupted. To run the
# queue on a machine with no browser open, use `python -m core jobs serve` (and
# LAB_DASHBOARD_SUPERVISOR=0 for dashboards that should leave the queue to it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LAB_VENV:-.venv}"
# a venv set up for the tests (DEV=1) has everything the app needs: keep it, do not reinstall
if [ -z "${DEV:-}" ] && compgen -G "$VENV/.installed-*-1" >/dev/null; then export DEV=1; fi
./scripts/setup.sh
# `streamlit run app.py` with the imports of every page's first view done at start (scripts/serve.py)
exec "$VENV/bin/python" scripts/serve.py "$@"
