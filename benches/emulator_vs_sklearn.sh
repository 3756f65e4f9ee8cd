#!/usr/bin/env bash
# seqcal's GP emulator side by side with scikit-learn's GaussianProcessRegressor
# (benches/peers/sklearn_gp.py) on the shipped synthetic example
# (examples/emulator: 6 parameters, 24 outputs, 300 design + 200 validation runs), with the
# same PCA (--npc, default 8) and kernel (squared exponential with ARD + white noise).
# Prints one JSON line per measurement. Then the cost of one likelihood evaluation
# (7 parameters, 100 observables, 500 design points).
# scikit-learn comes from benches/peers/python.sh ($PEERS_PYTHON, or target/py completed from PyPI).
# The 17-parameter, 110-output benchmark is benches/emulator_heavy_ion.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
NPC=${NPC:-8}
RESTARTS=${RESTARTS:-0}
EX=examples/emulator
PY=$(benches/peers/python.sh scikit-learn numpy)
SK=benches/peers/sklearn_gp.py
cargo build --release -q --bin seqcal --example emulator_bench
SEQCAL=target/release/seqcal
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for rep in 1 2; do
  $SEQCAL emulator train --design $EX/design.csv --outputs $EX/outputs.csv --bounds $EX/bounds.csv \
    --npc "$NPC" --restarts "$RESTARTS" --seed 0 -o "$tmp/emu.json" --force --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench":"seqcal_fit","restarts":'"$RESTARTS"',"fit_s":round(d["fit_s"],3)}))'
  target/release/examples/emulator_bench predict "$tmp/emu.json"
done
$SEQCAL emulator validate "$tmp/emu.json" --design $EX/design_val.csv --outputs $EX/outputs_val.csv --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench":"seqcal_validation","rmse_std":d["rmse_std"],"coverage_1sd":d["coverage_1sd"],"coverage_2sd":d["coverage_2sd"]}))'
for rep in 1 2; do
  "$PY" "$SK" --design $EX/design.csv --outputs $EX/outputs.csv --design-val $EX/design_val.csv \
      --outputs-val $EX/outputs_val.csv --bounds $EX/bounds.csv --npc "$NPC"
done
target/release/examples/emulator_bench likelihood
