#!/usr/bin/env bash
# Flow prior training speed and accuracy, seqcal-flow (candle, CPU) vs the normflows peer
# (PyTorch, CPU, 2 threads) on the 7-D data of shared/peers/normflows_realnvp.py.
#
# Usage: benches/flow_vs_normflows.sh [STEPS]   (default 5000)
# The normflows side runs only when shared/peers/setup.sh has installed torch + normflows
# (`../shared/peers/setup.sh full`); results are printed as one JSON line per tool.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-5000}"
echo "== seqcal-flow (RAYON_NUM_THREADS=2)"
RAYON_NUM_THREADS=2 FLOW_N=85000 FLOW_STEPS="$STEPS" \
  cargo run --release --example flow_bench -- normflows 2>/dev/null | grep '^{'
PEER=../shared/peers/normflows_realnvp.py
[ -f "$PEER" ] || PEER=/work/shared/peers/normflows_realnvp.py
if python3 -c "import normflows, torch" 2>/dev/null; then
  echo "== normflows"
  python3 "$PEER" --steps "$STEPS" --threads 2
else
  echo "== normflows: not installed (run shared/peers/setup.sh full), skipped"
fi
