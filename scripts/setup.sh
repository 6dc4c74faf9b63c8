#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with the pinned ranges.
#   LAB_VENV=path  use another venv folder;  DEV=1  also install the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LAB_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
req=requirements.txt
[ "${DEV:-0}" = "1" ] && req=requirements-dev.txt
stamp="$VENV/.installed-$(sha1sum requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)-${DEV:-0}"
if [ ! -f "$stamp" ]; then
  echo "==> installing $req into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$req"
  touch "$stamp"
fi
