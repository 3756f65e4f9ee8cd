#!/usr/bin/env bash
# Installs what seqcal's build and tests need and a fresh machine may lack.
#   scripts/deps.sh          the HDF5 C library (Debian/Ubuntu: libhdf5-dev), and a font
#                            for plot labels (fonts-dejavu-core) when none is found
#   scripts/deps.sh python   also a venv with emcee, h5py and numpy (default target/py,
#                            or $SEQCAL_VENV), used by the test that opens seqcal's chains
#                            with emcee
# Each step first checks whether it is needed; with everything installed nothing is
# installed and neither apt-get nor sudo is called, so a user without root can run it.
# A missing font is a warning (only plots need it). With CI set, a venv that cannot be
# set up is an error (the interop test would fail later anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

warn() { echo "deps: warning: $*" >&2; }
# CI is set (any value but empty, 0 or false): what would be a warning is an error.
in_ci() { case ${CI:-} in ""|0|false|False|FALSE) return 1 ;; *) return 0 ;; esac; }

# Runs "$@" as root: directly when root, else through sudo when there is one, else
# fails (the caller decides what that means). Only called when something is missing.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "deps: need root (or sudo) to run: $*" >&2; return 1; fi
}

# apt-get install of Debian packages ($1: what they are for); fails when apt-get or
# root is missing.
apt_install() {
  local why=$1; shift
  command -v apt-get >/dev/null || return 1
  echo "deps: installing $* ($why)"
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found. Install Rust >= 1.85 (https://rustup.rs), then run this again." >&2
  exit 1
fi

# The HDF5 C library, as the hdf5 crate's build finds it: HDF5_DIR, pkg-config, or
# the library in a usual place. Each candidate is checked on its own.
have_hdf5() {
  [[ -n ${HDF5_DIR:-} && -d ${HDF5_DIR} ]] && return 0
  command -v pkg-config >/dev/null && pkg-config --exists hdf5 2>/dev/null && return 0
  command -v dpkg-query >/dev/null && [[ $(dpkg-query -W -f='${Status}' libhdf5-dev 2>/dev/null) == "install ok installed" ]] && return 0
  local pattern
  for pattern in /usr/lib/*/libhdf5.so /usr/lib/*/libhdf5_serial.so /usr/lib64/libhdf5.so /usr/lib/libhdf5.so \
                 /usr/local/lib/libhdf5.so /opt/homebrew/lib/libhdf5.dylib /usr/local/lib/libhdf5.dylib; do
    compgen -G "$pattern" >/dev/null && return 0
  done
  return 1
}
if ! have_hdf5; then
  if ! apt_install "HDF5 C library for the chain files" libhdf5-dev; then
    echo "deps: the HDF5 C library is missing and could not be installed; install it" \
         "(libhdf5-dev on Debian/Ubuntu, hdf5-devel on Fedora, hdf5 on Homebrew) or set HDF5_DIR" >&2
    exit 1
  fi
fi

# A TrueType font for plot labels (corner plots): the files seqcal looks for
# (src/report/corner.rs), or SEQCAL_FONT.
have_font() {
  [[ -n ${SEQCAL_FONT:-} && -f ${SEQCAL_FONT} ]] && return 0
  local dir name
  for dir in /usr/share/fonts/truetype/dejavu /usr/share/fonts/dejavu /usr/share/fonts/TTF \
             /usr/share/fonts/truetype/liberation /usr/share/fonts/truetype/noto /Library/Fonts \
             /System/Library/Fonts/Supplemental; do
    for name in DejaVuSans.ttf LiberationSans-Regular.ttf NotoSans-Regular.ttf Arial.ttf; do
      [[ -f $dir/$name ]] && return 0
    done
  done
  return 1
}
if ! have_font; then
  if ! apt_install "labels of corner plots" fonts-dejavu-core; then
    warn "no TrueType font found and none could be installed: plots will fail until you install" \
         "fonts-dejavu-core (or any DejaVu/Liberation/Noto Sans) or set SEQCAL_FONT=/path/to/font.ttf"
  fi
fi

if [[ ${1:-} == python ]]; then
  venv=${SEQCAL_VENV:-target/py}
  if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "import emcee, h5py, numpy" 2>/dev/null; then
    exit 0
  fi
  echo "deps: setting up $venv with emcee, h5py and numpy (for the emcee interop test)"
  if command -v python3 >/dev/null && python3 -m venv "$venv" \
     && "$venv/bin/pip" install -q --disable-pip-version-check emcee h5py numpy; then
    echo "deps: emcee, h5py, numpy installed in $venv"
  else
    msg="could not set up $venv with emcee, h5py and numpy (is python3-venv installed? is PyPI reachable?)"
    if in_ci; then
      echo "deps: error: $msg" >&2
      exit 1
    fi
    echo >&2
    warn "$msg"
    warn "the emcee interop test will FAIL; fix the above, or point SEQCAL_PYTHON at a python with" \
         "emcee, h5py and numpy, or set SEQCAL_ALLOW_SKIP=1 to let it skip"
    echo >&2
  fi
fi
