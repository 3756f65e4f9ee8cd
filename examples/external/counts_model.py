#!/usr/bin/env python3
"""A seqcal external target with constrained parameters (protocol version 2).

A detector counts events: in five hours it saw 3, 5, 4, 2 and 6 events
(Poisson with rate `rate` > 0 per hour), and it detected 7 of 10 calibration
pulses (binomial with efficiency `eff` in (0, 1)). Priors: rate ~ Gamma(2, 1)
(shape 2, rate 1), eff ~ Beta(2, 2). The exact posterior is
rate ~ Gamma(22, 6) and eff ~ Beta(9, 5).

The handshake declares both parameters with their supports:

    seqcal-target 2 2 log_rate=rate(0,inf) logit_eff=eff(0,1)

so seqcal samples the unconstrained coordinates log_rate = log(rate) and
logit_eff = log(eff / (1 - eff)), sends THOSE to this program, and stores
`rate` and `eff` in its chains. This program therefore answers the log
density ON THE COORDINATES IT RECEIVES: the log posterior of (rate, eff) plus
the log-Jacobian log|d(rate, eff)/d(log_rate, logit_eff)|
= log(rate) + log(eff) + log(1 - eff).

Try it by hand:  printf '1\n1.0 0.5\n' | python3 examples/external/counts_model.py
Plain Python 3, no packages needed.
"""
import math
import sys

COUNTS = [3, 5, 4, 2, 6]            # events per hour
DETECTED, PULSES = 7, 10            # calibration pulses seen, sent
RATE_PRIOR = (2.0, 1.0)             # Gamma(shape, rate)
EFF_PRIOR = (2.0, 2.0)              # Beta(a, b)


def softplus(x):
    """log(1 + e^x) without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def log_density(log_rate, logit_eff):
    """Log posterior density of (log_rate, logit_eff), up to a constant."""
    if log_rate > 700.0:                 # rate = e^700: zero density (and exp would overflow)
        return float("-inf")
    rate = math.exp(log_rate)
    log_eff, log_1m_eff = -softplus(-logit_eff), -softplus(logit_eff)
    shape, rate_b = RATE_PRIOR
    a, b = EFF_PRIOR
    lp = (shape - 1.0) * log_rate - rate_b * rate                      # Gamma prior on rate
    lp += sum(k * log_rate - rate - math.lgamma(k + 1.0) for k in COUNTS)  # Poisson counts
    lp += (a - 1.0) * log_eff + (b - 1.0) * log_1m_eff                 # Beta prior on eff
    lp += DETECTED * log_eff + (PULSES - DETECTED) * log_1m_eff        # binomial pulses
    lp += log_rate + log_eff + log_1m_eff                              # log-Jacobian of the transform
    return lp


def main():
    out = sys.stdout
    out.write("seqcal-target 2 2 log_rate=rate(0,inf) logit_eff=eff(0,1)\n")
    out.flush()
    while True:
        header = sys.stdin.readline()
        if not header:  # end of input: seqcal is done
            return 0
        answers = []
        for _ in range(int(header)):
            u = [float(x) for x in sys.stdin.readline().split()]
            try:
                value = log_density(*u)
            except (ArithmeticError, ValueError) as e:  # cannot evaluate: reject the point
                sys.stderr.write("point %r: %s\n" % (u, e))
                value = float("nan")
            answers.append(repr(value))
        out.write("\n".join(answers) + "\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
