#!/usr/bin/env bash
# seqcal's ensemble sampler vs emcee on the same work: the 7-D correlated
# Gaussian of benches/peers/emcee_gaussian.py, 32 walkers, 20 000 steps,
# stretch move, first 2000 steps dropped; three seeds each, one job at a
# time. Prints one JSON line per run and a summary of medians and ratios.
#   benches/ensemble_vs_emcee.sh            (installs emcee from PyPI into target/py if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
peers=benches/peers
cargo build --release --quiet
PY=$("$peers/python.sh" emcee numpy)
out=${OUT:-/tmp/seqcal-ensemble-bench.jsonl}
: > "$out"
for seed in 0 1 2; do
  target/release/seqcal sample --target bench_gaussian7 --walkers 32 --steps 20000 --burn 2000 \
    --seed "$seed" --json --quiet --threads 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); d["who"]="seqcal"; print(json.dumps(d))' >> "$out"
  for mode in scalar vector; do
    "$PY" "$peers/emcee_gaussian.py" --mode "$mode" --seed "$seed" | python3 -c "import json,sys; d=json.loads(sys.stdin.readlines()[-1]); d['who']='emcee-$mode'; print(json.dumps(d))" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(who, key):
    return st.median(r[key] for r in rows if r["who"] == who)
s_eps, s_ess, s_tau = med("seqcal", "evaluations_per_second"), med("seqcal", "ess_per_second"), st.median(max(r["tau"]) for r in rows if r["who"] == "seqcal")
s_over = med("seqcal", "overhead_ns_per_evaluation")
print(f"seqcal       : {s_eps:12.0f} evaluations/s, {s_ess:9.0f} ESS/s, tau_max {s_tau:.1f}, overhead {s_over:.0f} ns/evaluation")
for m in ("scalar", "vector"):
    e_eps, e_ess, e_tau = med(f"emcee-{m}", "evals_per_s"), med(f"emcee-{m}", "ess_per_s"), med(f"emcee-{m}", "tau_max")
    print(f"emcee {m:7}: {e_eps:12.0f} evaluations/s, {e_ess:9.0f} ESS/s, tau_max {e_tau:.1f}   ratio seqcal/emcee: {s_eps/e_eps:.1f}x evaluations/s, {s_ess/e_ess:.1f}x ESS/s")
PY
