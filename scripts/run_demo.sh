#!/usr/bin/env bash
# The main job: set up .venv (first run only; needs Python 3.10+ and PyPI), then run SRSoup on the
# embedded digits model. Extra arguments go to the demo (see `.venv/bin/python -m bench.demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m bench.demo "$@"
