#!/usr/bin/env bash
# One command on a fresh machine: set up, then start the lab on the embedded digits set.
#   ./scripts/run_app.sh [extra streamlit args, e.g. --server.port 8502]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
VENV="${LAB_VENV:-.venv}"
exec "$VENV/bin/python" -m streamlit run app.py "$@"
