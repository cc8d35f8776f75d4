#!/usr/bin/env bash
# The main job on the bundled corpus, from nothing: set up, train a 1x256 LSTM on Jane Austen's
# novels (time-boxed), show what it writes, record its validation text and list the neurons
# that track concepts.
# Usage: bash scripts/demo.sh [RUN_DIR]   (default runs/austen; MINUTES=7 sets the training budget;
#        NO_DASHBOARD=1 stops before serving the dashboard)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/austen}
MINUTES=${MINUTES:-7}
bash scripts/setup.sh
CHARNN=.venv/bin/charnn
if [ -f "$RUN/summary.json" ]; then
    echo "== $RUN is already trained (delete it to train again)"
else
    echo "== training on the bundled Austen novels for at most $MINUTES minutes"
    $CHARNN train austen --out "$RUN" --layers 1 --hidden 256 --seq-len 128 --batch-size 32 \
        --lr 6e-3 --max-steps 100000 --max-minutes "$MINUTES" --eval-every 250
fi
echo "== what it writes (temperature 0.8)"
$CHARNN sample "$RUN" --prime '"My dear' --length 400 --temperature 0.8 --seed 1
echo
echo "== recording every timestep of the validation text"
$CHARNN record "$RUN" val --name val
echo
echo "== which neurons track which concepts (best units per concept, best concept per unit)"
$CHARNN atlas "$RUN/recordings/val" --kinds c,h
echo
echo "== why the quote unit has its value inside a quote: what each earlier character wrote into it"
QUOTE=$($CHARNN search "$RUN/recordings/val" --concept inside_quotes --top 1 --format json 2>/dev/null |
    .venv/bin/python -c 'import json, sys; print("%(layer)s:%(kind)s:%(unit)s" % json.load(sys.stdin)[0])')
AT=$(.venv/bin/python -c 'import sys, charnn; s = charnn.open_recording(sys.argv[1]).string; q = s.index("\n\"", 5000) + 1; print(q + min(20, s.index("\"", q + 1) - q - 1))' "$RUN/recordings/val")
$CHARNN attribute "$RUN/recordings/val" --unit "$QUOTE" --at "$AT"
if [ -z "${NO_DASHBOARD:-}" ]; then
    echo
    echo "== the dashboard: open http://127.0.0.1:8050/ (Ctrl-C stops it)"
    exec $CHARNN dashboard "$(dirname "$RUN")"
fi
