#!/usr/bin/env bash
# Should `seqcal sample` move stranded walkers during burn-in by default?
#
# 1. Trap: an 8-D standard normal with a far, tiny, narrow minor mode (sd 0.1 at
#    (10, ..., 10), log weight -58.4: its peak 40 nats below the bulk's, its mass
#    e^-58), an external model in awk; 8 of 64 walkers start in the minor mode.
#    Default moves (stretch), 4000 steps, burn 1000, seeds 1-5, with
#    --relocate-stuck 0 (off) and 1000 (during burn-in). The truth: mean 0, sd 1.
# 2. No trap: built-in targets, the same two settings; relocation must not move
#    any walker (a multimodal target's modes included) and leave the chain as it was.
# Prints one line per run.   benches/relocate_stuck.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
seqcal=target/release/seqcal
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
d=8
cat > "$tmp/model.sh" <<SH
echo "seqcal-target 1 $d"
opt=; awk -W version 2>/dev/null | grep -q mawk && opt="-W interactive"
exec awk \$opt -v d=$d 'BEGIN { need = 0; l2pi = log(2 * 3.141592653589793) }
need == 0 { need = \$1 + 0; next }
{
  a = -0.5 * d * l2pi; b = -58.4 - 0.5 * d * l2pi - d * log(0.1)
  for (i = 1; i <= d; i++) { a -= 0.5 * \$i * \$i; b -= 0.5 * (\$i - 10) ^ 2 / 0.01 }
  m = (a > b) ? a : b
  printf "%.17g\n", m + log(exp(a - m) + exp(b - m))
  need--
  if (need == 0) fflush()
}'
SH
python3 - "$tmp/init.csv" $d <<'PY'
import random, sys
path, d = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
with open(path, "w") as f:
    f.write(",".join(f"x{i}" for i in range(d)) + "\n")
    for k in range(64):
        c, s = (10.0, 0.05) if k < 8 else (0.0, 1.0)
        f.write(",".join(str(c + s * r.gauss(0, 1)) for _ in range(d)) + "\n")
PY
cat > "$tmp/summarize.py" <<'PY'
import json, sys
j = json.load(sys.stdin)
label, seed, reloc = sys.argv[1:4]
z = max(abs(m) / se for m, se in zip(j["mean"], j["mcse"]))
sd, mean = j["sd"], j["mean"]
print(f"{label:>26} seed {seed} relocate {reloc:>4}: stuck {j['stuck_walkers']:2d}, relocated {j['relocated_walkers']:2d}, "
      f"max |mean|/mcse {z:7.1f}, mean {min(mean):+.3f}..{max(mean):+.3f}, sd {min(sd):.3f}-{max(sd):.3f}, warnings {len(j['warnings'])}")
PY
summarize() { python3 "$tmp/summarize.py" "$@"; }
for seed in 1 2 3 4 5; do
  for reloc in 0 1000; do
    "$seqcal" sample --target "cmd:sh $tmp/model.sh" --init "$tmp/init.csv" --walkers 64 --steps 4000 --burn 1000 \
      --relocate-stuck $reloc --seed $seed --json --quiet | summarize "minor mode 40 nats below" $seed $reloc
  done
done
for target in gaussian:dim=8 correlated_gaussian rosenbrock gaussian_shells eggbox funnel:dim=4; do
  for reloc in 0 1000; do
    "$seqcal" sample --target "$target" --walkers 64 --steps 4000 --burn 1000 --relocate-stuck $reloc --seed 1 \
      --json --quiet -o "$tmp/r$reloc.h5" --force | summarize "$target" 1 $reloc
  done
  cmp -s "$tmp/r0.h5" "$tmp/r1000.h5" && echo "$target: identical chains with and without relocation" || echo "$target: the chains differ"
done
