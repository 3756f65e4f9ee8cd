# seqcal: the two commands.
#   make demo   install what is missing, build, run the shipped example
#   make lost-mode   the same for the lost-mode example
#   make test   install what is missing, build, run every test
SHELL := /bin/bash
CARGO ?= cargo
SEQCAL := target/release/seqcal

.PHONY: demo lost-mode test deps build bench clean

deps:
	@scripts/deps.sh

build: deps
	$(CARGO) build --release --locked

# The emcee interop test finds the venv that `deps.sh python` made (target/py) by
# itself, at run time: nothing here is decided before deps.sh has run.
test: deps
	@scripts/deps.sh python
	$(CARGO) test --workspace --release --locked

demo: build
	@echo "== the staged calibration of examples/sequential: A, B, A->B, B->A, joint, and the comparisons"
	$(SEQCAL) run examples/sequential/pipeline.toml --runs-dir runs
	@echo
	@cat runs/sequential/report/summary.md
	@echo
	@echo "report: runs/sequential/report/ (summary.md, compare.json, corner_*.png); chains: runs/sequential/<stage>/chain.h5"

# The failure case of sequential calibration: which order of two data sets loses a mode.
lost-mode: build
	@echo "== examples/lost-mode: P, Q, Q->P, P->Q (with and without a defensive mixture), joint"
	$(SEQCAL) run examples/lost-mode/pipeline.toml --runs-dir runs
	@echo
	@cat runs/lost-mode/report/summary.md

bench: build
	benches/chain_info_1gb.sh

clean:
	rm -rf runs target/py
