#!/usr/bin/env bash
# seqcal's SMC sampler and pocoMC 1.2.6 (at its defaults) side by side, one after the other in
# one run, on the three targets of pocomc_targets.py: one JSON line per run, each with the wall
# and CPU seconds of its whole process (`/usr/bin/time`: user + system).
#   benches/peers/smc_vs_pocomc.sh [SEED] [TARGETS...]      (default: 0 shells rosen box7)
# The python must have pocomc (`PEERS_PYTHON`, else benches/peers/python.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
seed=${1:-0}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(shells rosen box7)
PY=${PEERS_PYTHON:-$(benches/peers/python.sh pocomc torch numpy scipy)}
cargo build --release --quiet --example smc_bench
timed() {
  local label=$1 tmp
  shift
  tmp=$(mktemp)
  /usr/bin/time -f '%e %U %S' -o "$tmp" "$@" 2>/dev/null | tail -n 1 | while read -r line; do
    read -r wall user sys <"$tmp"
    echo "{\"tool\": \"$label\", \"process_wall_s\": $wall, \"process_cpu_s\": $(echo "$user + $sys" | bc), \"run\": $line}"
  done
  rm -f "$tmp"
}
for t in "${targets[@]}"; do
  timed seqcal target/release/examples/smc_bench "$t" "$seed"
  timed pocomc "$PY" benches/peers/pocomc_targets.py --problem "$t" --seed "$seed"
done
