#!/usr/bin/env bash
# Two-stage flows, hierarchical example case (a) end to end (stage 1 + stage 2),
# seqcal vs the normflows peer (PyTorch, CPU, 2 threads; benches/peers/normflows_two_stage.py:
# the same data set, the same pool size, 2000 + 5000 iterations), back to back, and the
# white-dwarf example's stage 2 (151 coordinates). Each run prints its JSON line and, from
# /usr/bin/time, its wall and CPU (user + system) seconds: the machine is shared, so CPU
# seconds are the steadier figure.
#
# Usage: benches/two_stage_vs_normflows.sh [SEED] [DWARF_STEPS]
#   (default seed 0; DWARF_STEPS: stage-2 steps of the dwarf run, default 5000, 0 skips it)
# Set PEERS_PYTHON to a python with torch, normflows and numpy, or the peer side installs
# them from PyPI into target/py (benches/peers/python.sh; a large download).
set -euo pipefail
cd "$(dirname "$0")/.."
SEED="${1:-0}"
DWARF_STEPS="${2:-5000}"
cargo build --release --example two_stage_bench 2>/dev/null
BENCH=target/release/examples/two_stage_bench
timed() { /usr/bin/time -f 'time: wall %e s, cpu %U + %S s' "$@"; }
echo "== seqcal, case (a), seed $SEED"
timed "$BENCH" tsnf a "$SEED"
PY=$(benches/peers/python.sh torch normflows numpy)
echo "== normflows, case (a), seed $SEED"
timed "$PY" benches/peers/normflows_two_stage.py --seed "$SEED" --threads 2
if [[ $DWARF_STEPS != 0 ]]; then
  echo "== seqcal, white dwarfs (151 coordinates), stage 2 of $DWARF_STEPS steps"
  timed "$BENCH" tsnf dwarfs "$SEED" --steps2 "$DWARF_STEPS"
fi
