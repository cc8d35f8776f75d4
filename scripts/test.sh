#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the tests.
#   bash scripts/test.sh          the fast tier (no `slow` or `browser` marker): a few minutes on 2 cores
#   bash scripts/test.sh --all    every test, the slow ones and the headless-Chromium ones too (what CI runs)
# Further arguments go to pytest, e.g. bash scripts/test.sh tests/test_train.py -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
TIER=(-m "not slow and not browser")
if [ "${1:-}" = "--all" ]; then
    shift
    TIER=()
    if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # Browser tests drive Debian's headless Chromium; without it they are skipped.
        (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "chromium not installed: browser tests will be skipped"
    fi
fi
exec .venv/bin/python -m pytest -q "${TIER[@]}" "$@"
