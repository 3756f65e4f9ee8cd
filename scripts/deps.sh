#!/usr/bin/env bash
# Installs what seqcal's build and tests need and a fresh machine may lack.
#   scripts/deps.sh          the HDF5 C library (Debian/Ubuntu: libhdf5-dev)
#   scripts/deps.sh python   also a venv at target/py with emcee, h5py and numpy,
#                            used by the test that opens seqcal's chains with emcee
# Safe to run repeatedly: each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "deps: need root (or sudo) to run: $*" >&2; exit 1; fi; }

if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found. Install Rust (https://rustup.rs), then run this again." >&2
  exit 1
fi

have_hdf5() {
  [[ -n ${HDF5_DIR:-} ]] && return 0
  command -v dpkg >/dev/null && dpkg -s libhdf5-dev >/dev/null 2>&1 && return 0
  ls /usr/lib/*/libhdf5*.so /usr/lib64/libhdf5*.so /usr/local/lib/libhdf5*.so >/dev/null 2>&1
}
if ! have_hdf5; then
  if command -v apt-get >/dev/null; then
    echo "deps: installing libhdf5-dev (HDF5 C library for the chain files)"
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq libhdf5-dev >/dev/null
  else
    echo "deps: the HDF5 C library is missing; install it (e.g. libhdf5-dev, hdf5-devel) or set HDF5_DIR" >&2
    exit 1
  fi
fi

# A TrueType font for plot labels (corner plots).
if ! ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/TTF/DejaVuSans.ttf /usr/share/fonts/dejavu/DejaVuSans.ttf >/dev/null 2>&1 \
   && [[ -z ${SEQCAL_FONT:-} ]] && command -v apt-get >/dev/null; then
  echo "deps: installing fonts-dejavu-core (labels of corner plots)"
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq fonts-dejavu-core >/dev/null
fi

if [[ ${1:-} == python ]]; then
  venv=target/py
  if [[ -x $venv/bin/python ]] && $venv/bin/python -c "import emcee, h5py, numpy" 2>/dev/null; then
    exit 0
  fi
  if command -v python3 >/dev/null && python3 -m venv "$venv" 2>/dev/null \
     && $venv/bin/pip install -q --disable-pip-version-check emcee h5py numpy >/dev/null 2>&1; then
    echo "deps: emcee, h5py, numpy installed in $venv"
  else
    echo "deps: could not set up $venv with emcee (no python3-venv or no network): the emcee interop test will skip itself" >&2
  fi
fi
