#!/usr/bin/env bash
# Prints the path of a python that has the given PyPI packages, for the peer side of the
# benchmarks: $PEERS_PYTHON if set, else the venv of scripts/deps.sh (target/py), into
# which the missing packages are installed from PyPI first.
#   PY=$(benches/peers/python.sh emcee numpy)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -n ${PEERS_PYTHON:-} ]]; then echo "$PEERS_PYTHON"; exit 0; fi
scripts/deps.sh python >&2
PY=target/py/bin/python
missing=()
for pkg in "$@"; do
  mod=${pkg//-/_}; [[ $mod == scikit_learn ]] && mod=sklearn
  "$PY" -c "import $mod" 2>/dev/null || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "peers: installing ${missing[*]} into target/py" >&2
  target/py/bin/pip install -q --disable-pip-version-check "${missing[@]}" >&2
fi
echo "$PY"
