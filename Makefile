# seqcal: the two commands.
#   make demo   install what is missing, build, run the shipped example
#   make test   install what is missing, build, run every test
SHELL := /bin/bash
CARGO ?= cargo
SEQCAL := target/release/seqcal
DEMO := runs/demo
PYTHON_VENV := target/py/bin/python

.PHONY: demo test deps build bench clean

deps:
	@scripts/deps.sh

build: deps
	$(CARGO) build --release --locked

test: deps
	@scripts/deps.sh python
	SEQCAL_PYTHON=$(if $(wildcard $(PYTHON_VENV)),$(abspath $(PYTHON_VENV)),python3) \
	  $(CARGO) test --workspace --release --locked

demo: build
	@mkdir -p $(DEMO)
	@echo "== a prior from examples/priors/product.toml, 20000 draws"
	$(SEQCAL) prior sample --config examples/priors/product.toml -n 20000 -o $(DEMO)/prior_draws.h5 --seed 1
	$(SEQCAL) chain info $(DEMO)/prior_draws.h5
	@echo
	@echo "== a chain written by emcee, read by seqcal (rows past 'iteration' ignored)"
	$(SEQCAL) chain info chains/fixtures/emcee_small.h5 --discard 50
	$(SEQCAL) chain convert chains/fixtures/emcee_small.h5 $(DEMO)/emcee_small.csv
	@echo
	@echo "== the ensemble sampler on posteriordb's arK posterior, then its corner plot"
	$(SEQCAL) sample --config examples/stages/arK.toml -o $(DEMO)/ark.h5 --force
	$(SEQCAL) plot corner $(DEMO)/ark.h5 --discard 1000 -o $(DEMO)/ark_corner.png
	@echo
	@echo "demo outputs are in $(DEMO)/ (open the .h5 files with emcee.backends.HDFBackend)"

bench: build
	benches/chain_info_1gb.sh

clean:
	rm -rf runs target/py
