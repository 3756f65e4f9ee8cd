#!/usr/bin/env bash
# Flow prior training speed and accuracy, seqcal-flow (candle, CPU) vs the normflows peer
# (PyTorch, CPU, 2 threads) on the 7-D data of benches/peers/normflows_realnvp.py.
#
# Usage: benches/flow_vs_normflows.sh [STEPS]   (default 5000)
# The normflows side installs torch and normflows from PyPI into target/py when missing
# (benches/peers/python.sh; a large download); results are printed as one JSON line per tool.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-5000}"
echo "== seqcal-flow (RAYON_NUM_THREADS=2)"
RAYON_NUM_THREADS=2 FLOW_N=85000 FLOW_STEPS="$STEPS" \
  cargo run --release --example flow_bench -- normflows 2>/dev/null | grep '^{'
PY=$(benches/peers/python.sh torch normflows numpy)
echo "== normflows"
"$PY" benches/peers/normflows_realnvp.py --steps "$STEPS" --threads 2
