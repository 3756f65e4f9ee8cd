"""Writes a chain with emcee's own sampler and HDFBackend, for the test that
seqcal reads emcee's files as emcee does (tests/chain_files.rs).

    python write_chain.py OUT.h5

A correlated 3-D Gaussian, 8 walkers, 150 steps, seeded.
"""

import sys

import emcee
import numpy as np

rng = np.random.default_rng(20260)
cov = np.array([[1.0, 0.6, 0.1], [0.6, 2.0, -0.4], [0.1, -0.4, 0.5]])
prec = np.linalg.inv(cov)


def log_prob(x):
    return -0.5 * x @ prec @ x


backend = emcee.backends.HDFBackend(sys.argv[1])
backend.reset(8, 3)
sampler = emcee.EnsembleSampler(8, 3, log_prob, backend=backend)
sampler.random_state = np.random.RandomState(20261).get_state()
sampler.run_mcmc(rng.normal(size=(8, 3)), 150, progress=False)
print("wrote", backend.iteration)
