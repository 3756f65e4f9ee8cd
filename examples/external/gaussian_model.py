#!/usr/bin/env python3
"""A seqcal external target: the standard normal log density in 3 dimensions.

seqcal starts this program once and talks to it over its standard input and
output (protocol version 1, described in docs/external-targets.md):

  1. Handshake: print `seqcal-target 1 DIM [NAME ...]` and flush.
  2. Batches, until standard input ends: read a line holding N, then N lines of
     DIM numbers; print N lines, each the log density of one point (`-inf` for
     zero density, `nan` for a point that cannot be evaluated), then FLUSH
     standard output (output to a pipe is buffered).
  3. When standard input ends (seqcal is done), exit.

Standard output belongs to the protocol: print diagnostics to standard error.

Try it by hand:  python3 examples/external/gaussian_model.py
then type `2`, `0 0 0` and `1 1 1` (one per line), and Ctrl-D to end.
To write your own model, replace NAMES and log_density(); the rest stays.
Plain Python 3, no packages needed.
"""
import math
import sys

NAMES = ["a", "b", "c"]
DIM = len(NAMES)
LOG_NORM = -0.5 * DIM * math.log(2.0 * math.pi)


def log_density(theta):
    """Log density of the 3-D standard normal at theta (a list of DIM floats)."""
    return LOG_NORM - 0.5 * sum(t * t for t in theta)


def main():
    out = sys.stdout
    out.write("seqcal-target 1 %d %s\n" % (DIM, " ".join(NAMES)))
    out.flush()
    while True:
        header = sys.stdin.readline()
        if not header:  # end of input: seqcal is done
            return 0
        n = int(header)
        answers = []
        for _ in range(n):
            theta = [float(x) for x in sys.stdin.readline().split()]
            if len(theta) != DIM:
                sys.stderr.write("expected %d numbers per point, got %d\n" % (DIM, len(theta)))
                return 1
            try:
                value = log_density(theta)
            except (ArithmeticError, ValueError) as e:  # cannot evaluate: reject the point
                sys.stderr.write("point %r: %s\n" % (theta, e))
                value = float("nan")
            answers.append(repr(value))  # repr: exact, and writes -inf / nan as the protocol wants
        out.write("\n".join(answers) + "\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
