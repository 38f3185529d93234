#!/usr/bin/env bash
# Creates .venv (Python 3.11) with the CPU torch wheel and the pack's dev dependencies.
# Idempotent: a second run only checks. Used by run_demo.sh and run_tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.srsoup-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # torch first and pinned, so no later requirement can pull a different build.
    .venv/bin/python -m pip install --quiet torch==2.13.0
    # torchvision pinned to the release built for torch 2.13.0 (open_clip imports it).
    .venv/bin/python -m pip install --quiet torchvision==0.28.0 -e ".[dev]"
    touch "$stamp"
fi
