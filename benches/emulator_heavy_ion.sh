#!/usr/bin/env bash
# The emulator speed benchmark: a stand-in for a real heavy-ion design (17 parameters,
# 110 outputs, 485 Latin-hypercube runs with statistical errors; `seqcal emulator example
# --model heavy-ion`), PCA to 10 components, squared-exponential ARD kernel + white noise,
# one optimizer start per component on both sides. Times the fit and the prediction of
# 10 000 points (mean + sd; mean + full 110×110 covariance) with seqcal, and the same with
# scikit-learn (benches/peers/sklearn_gp.py). Prints one JSON line per measurement, each
# with the load average at its start.
# scikit-learn comes from benches/peers/python.sh ($PEERS_PYTHON, or target/py completed from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-2}
SK=benches/peers/sklearn_gp.py
cargo build --release -q --bin seqcal --example emulator_bench
SEQCAL=target/release/seqcal
load() { cut -d' ' -f1 /proc/loadavg; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
EX=$tmp/hi
$SEQCAL emulator example --model heavy-ion -o "$EX" >/dev/null
tag() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(json.loads(sys.argv[1])); print(json.dumps(d))' "$1"; }
for rep in $(seq "$REPS"); do
  l=$(load)
  $SEQCAL emulator train --design "$EX/design.csv" --outputs "$EX/outputs.csv" --bounds "$EX/bounds.csv" \
    --npc 10 --restarts 0 --seed 0 -o "$tmp/emu.json" --force --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench":"seqcal_fit","fit_s":round(d["fit_s"],2)}))' | tag "{\"load\": $l}"
  l=$(load)
  target/release/examples/emulator_bench predict "$tmp/emu.json" | tag "{\"load\": $l}"
done
$SEQCAL emulator validate "$tmp/emu.json" --design "$EX/design_val.csv" --outputs "$EX/outputs_val.csv" --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench":"seqcal_validation","rmse_std":round(d["rmse_std"],4),"coverage_1sd":round(d["coverage_1sd"],3),"coverage_2sd":round(d["coverage_2sd"],3)}))'
# With the runs' known errors as per-run noise.
l=$(load)
$SEQCAL emulator train --design "$EX/design.csv" --outputs "$EX/outputs.csv" --bounds "$EX/bounds.csv" \
  --output-errors "$EX/output_errors.csv" --npc 10 --restarts 0 --seed 0 -o "$tmp/emu_err.json" --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench":"seqcal_fit_output_errors","fit_s":round(d["fit_s"],2)}))' | tag "{\"load\": $l}"
$SEQCAL emulator validate "$tmp/emu_err.json" --design "$EX/design_val.csv" --outputs "$EX/outputs_val.csv" --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench":"seqcal_validation_output_errors","rmse_std":round(d["rmse_std"],4),"coverage_1sd":round(d["coverage_1sd"],3),"coverage_2sd":round(d["coverage_2sd"],3)}))'
PY=$(benches/peers/python.sh scikit-learn scipy numpy)
for rep in $(seq "$REPS"); do
  l=$(load)
  "$PY" "$SK" --design "$EX/design.csv" --outputs "$EX/outputs.csv" --design-val "$EX/design_val.csv" \
    --outputs-val "$EX/outputs_val.csv" --bounds "$EX/bounds.csv" --npc 10 | tag "{\"load\": $l}"
done
