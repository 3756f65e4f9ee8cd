"""Checks that emcee's HDFBackend and seqcal read the same chain file alike.

Used by tests/chain_files.rs, for chains seqcal wrote (read here by emcee) and
chains emcee wrote (read by seqcal, whose view arrives as a CSV from
`seqcal chain convert` and a JSON from `seqcal chain info --json`).

    python check_chain.py CHAIN.h5 SEQCAL.csv INFO.json --discard D --thin T
        [--names a,b,c] [--datasets log_prior,log_likelihood] [--state]
        [--same-as OTHER.h5]

Every comparison is of values: the draws and log posterior emcee's
get_chain/get_log_prob return (with and without discard/thin, flat or not)
must equal seqcal's CSV exactly (seqcal writes the shortest repr that reads
back to the same double); summaries must agree to rounding. Prints "chain ok"
at the end; any failed check raises.
"""

import argparse
import json

import emcee
import h5py
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("h5")
p.add_argument("csv")
p.add_argument("info")
p.add_argument("--discard", type=int, required=True)
p.add_argument("--thin", type=int, required=True)
p.add_argument("--names", help="expected parameter names, comma-separated")
p.add_argument("--datasets", default="", help="optional per-draw datasets the file must hold (and no others)")
p.add_argument("--state", action="store_true", help="the file must hold seqcal's sampler state")
p.add_argument("--same-as", help="another chain file that must hold the same values")
a = p.parse_args()

OPTIONAL = {"log_prior": "log_prior", "log_likelihood": "log_likelihood", "weights": "weight"}
info = json.load(open(a.info))
b = emcee.backends.HDFBackend(a.h5, read_only=True)
n, (walkers, dim) = b.iteration, b.shape

# seqcal's view: the CSV, iteration-major, then walker.
with open(a.csv) as f:
    header = f.readline().strip().split(",")
table = np.loadtxt(a.csv, delimiter=",", skiprows=1, ndmin=2)
col = {name: j for j, name in enumerate(header)}
names = [h for h in header if h not in ("iteration", "walker", "log_prob") and h not in OPTIONAL.values()]
assert header[:2] == ["iteration", "walker"], header
assert table.shape == (n * walkers, len(header)), (table.shape, n, walkers)
assert np.array_equal(table[:, 0], np.repeat(np.arange(n), walkers))
assert np.array_equal(table[:, 1], np.tile(np.arange(walkers), n))
draws = table[:, 2 : 2 + dim].reshape(n, walkers, dim)
log_prob = table[:, col["log_prob"]].reshape(n, walkers)

# Shape and names, as both sides report them.
assert len(names) == dim, (names, dim)
assert (info["iterations"], info["walkers"], info["dim"]) == (n, walkers, dim), info
assert info["names"] == names, (info["names"], names)
if a.names is not None:
    assert names == a.names.split(","), (names, a.names)
with h5py.File(a.h5, "r") as f:
    g = f["mcmc"]
    stored = [s.decode() if isinstance(s, bytes) else s for s in g.attrs["param_names"]] if "param_names" in g.attrs else None
    if stored is not None:
        assert stored == names, (stored, names)
    present = {k for k in OPTIONAL if k in g}
    expected = {k for k in a.datasets.split(",") if k}
    assert present == expected, f"optional datasets {sorted(present)}, expected {sorted(expected)}"
    optional = {k: g[k][:n] for k in present}
    state = None
    if "sampler_state" in g:
        s = g["sampler_state"]
        state = {k: s[k][()] for k in s} | {k: s.attrs[k] for k in s.attrs}
    assert (state is not None) == a.state, f"sampler state present: {state is not None}, expected {a.state}"

# Values: emcee's reading equals seqcal's, whole and with discard/thin (emcee's
# rule: rows discard + thin - 1, then every thin-th).
for d, t in [(0, 1), (a.discard, a.thin), (a.discard, 1), (0, a.thin)]:
    rows = slice(d + t - 1, n, t)
    assert np.array_equal(b.get_chain(discard=d, thin=t), draws[rows]), (d, t)
    assert np.array_equal(b.get_chain(discard=d, thin=t, flat=True), draws[rows].reshape(-1, dim)), (d, t)
    assert np.array_equal(b.get_log_prob(discard=d, thin=t), log_prob[rows], equal_nan=True), (d, t)
for k, v in optional.items():
    assert np.array_equal(v, table[:, col[OPTIONAL[k]]].reshape(n, walkers), equal_nan=True), k
if {"log_prior", "log_likelihood"} <= present:
    # With beta = 1 the log posterior is their sum.
    assert np.allclose(log_prob, optional["log_prior"] + optional["log_likelihood"], rtol=1e-13, atol=1e-13)

# seqcal's summary of the same rows, after discard and thin.
flat = b.get_chain(discard=a.discard, thin=a.thin, flat=True)
weights = optional["weights"][a.discard + a.thin - 1 :: a.thin].reshape(-1) if "weights" in optional else np.ones(len(flat))
s = info["summary"]
assert (info["discard"], info["thin"]) == (a.discard, a.thin), (info["discard"], info["thin"])
assert s["draws"] == len(flat), (s["draws"], len(flat))
mean = np.average(flat, axis=0, weights=weights)
sd = np.sqrt(np.average((flat - mean) ** 2, axis=0, weights=weights))
for j, ps in enumerate(s["params"]):
    assert ps["name"] == names[j]
    assert abs(ps["mean"] - mean[j]) <= 1e-12 * max(1.0, abs(mean[j])), (j, ps["mean"], mean[j])
    assert abs(ps["sd"] - sd[j]) <= 1e-10 * max(1.0, sd[j]), (j, ps["sd"], sd[j])
acc = np.mean(b.accepted) / n
assert abs(info["acceptance"]["mean"] - acc) <= 1e-12, (info["acceptance"], acc)

# The sampler state seqcal resumes from is the chain's last row.
if state is not None:
    last = b.get_last_sample()
    assert state["iteration"] == n, (state["iteration"], n)
    # (The tests use targets without a transform: sampler coordinates are the parameters.)
    assert np.array_equal(state["positions"], last.coords)
    # Per walker: log posterior, then log prior and log likelihood where stored.
    values = state["values"]
    assert values.shape[0] == walkers, values.shape
    assert np.array_equal(values[:, 0], last.log_prob)
    if {"log_prior", "log_likelihood"} <= present:
        assert np.array_equal(values[:, 1], optional["log_prior"][-1])
        assert np.array_equal(values[:, 2], optional["log_likelihood"][-1])
    assert np.array_equal(state["accepted"], b.accepted)

if a.same_as:
    o = emcee.backends.HDFBackend(a.same_as, read_only=True)
    assert o.iteration == n and o.shape == b.shape, (o.iteration, o.shape)
    assert np.array_equal(o.get_chain(), b.get_chain())
    assert np.array_equal(o.get_log_prob(), b.get_log_prob())
    assert np.array_equal(o.accepted, b.accepted)

print("chain ok")
