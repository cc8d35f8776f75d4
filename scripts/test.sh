#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the whole test suite. Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # Browser tests drive Debian's headless Chromium; without it they are skipped.
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "chromium not installed: browser tests will be skipped"
fi
exec .venv/bin/python -m pytest -q "$@"
