#!/usr/bin/env bash
# Set up everything charnn needs in ./.venv: Python venv, CPU torch 2.13.0, charnn and its test tools.
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# torch first and pinned: a bare `torch` requirement could pull a multi-GB CUDA build.
pip_install() {  # quiet, but errors still show (this machine's pip warns about every local index)
    .venv/bin/pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2)
}
.venv/bin/python -c "import torch" 2>/dev/null || pip_install "torch==2.13.0"
pip_install -e ".[test]"
