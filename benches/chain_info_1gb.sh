#!/usr/bin/env bash
# `seqcal chain info` on a ~1 GB chain (10^6 iterations x 32 walkers x 4
# parameters): wall time and peak memory, three runs.
#   benches/chain_info_1gb.sh [FILE]      (default /tmp/seqcal-bench-1gb.h5)
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-/tmp/seqcal-bench-1gb.h5}
cargo build --release --quiet --example synthetic_chain
if [[ ! -s $file ]]; then
  echo "writing $file ..."
  start=$(date +%s.%N)
  target/release/examples/synthetic_chain "$file" 1000000 32 4
  echo "written in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
ls -l "$file"
for i in 1 2 3; do
  /usr/bin/time -f "run $i: wall %e s, peak RSS %M KiB" target/release/seqcal chain info "$file" --json > /tmp/seqcal-bench-info.json
done
python3 - <<'PY'
import json
d = json.load(open("/tmp/seqcal-bench-info.json"))
print("draws", d["summary"]["draws"])
for p in d["summary"]["params"]:
    print(p["name"], "mean %.4f sd %.4f q05 %.4f q50 %.4f q95 %.4f" % (p["mean"], p["sd"], p["q05"], p["q50"], p["q95"]))
PY
