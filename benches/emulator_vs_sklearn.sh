#!/usr/bin/env bash
# seqcal's GP emulator side by side with scikit-learn's GaussianProcessRegressor
# (/work/shared/peers/sklearn_gp.py, or $SKLEARN_GP) on the shipped synthetic example
# (examples/emulator: 6 parameters, 24 outputs, 300 design + 200 validation runs), with the
# same PCA (--npc, default 8) and kernel (squared exponential with ARD + white noise).
# Prints one JSON line per measurement. Then the cost of one likelihood evaluation
# (7 parameters, 100 observables, 500 design points).
# Needs a Python with scikit-learn: $PEERS_PYTHON, the venv of shared/peers/setup.sh, or target/py.
# The 17-parameter, 110-output benchmark is benches/emulator_heavy_ion.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
NPC=${NPC:-8}
RESTARTS=${RESTARTS:-0}
EX=examples/emulator
PY=${PEERS_PYTHON:-$HOME/.cache/seqcal-peers-venv/bin/python}
[[ -x $PY ]] || PY=target/py/bin/python
SK=${SKLEARN_GP:-/work/shared/peers/sklearn_gp.py}
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
if [[ -x $PY ]] && "$PY" -c 'import sklearn' 2>/dev/null; then
  for rep in 1 2; do
    "$PY" "$SK" --design $EX/design.csv --outputs $EX/outputs.csv --design-val $EX/design_val.csv \
      --outputs-val $EX/outputs_val.csv --bounds $EX/bounds.csv --npc "$NPC"
  done
else
  echo "no Python with scikit-learn ($PY): set PEERS_PYTHON to one, and SKLEARN_GP to the scikit-learn peer script" >&2
fi
target/release/examples/emulator_bench likelihood
