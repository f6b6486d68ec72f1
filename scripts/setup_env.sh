#!/usr/bin/env bash
# Create (or reuse) .venv/ in the repo and install the project into it.
# torch==2.13.0 goes in first, from constraints.txt: a plain `torch` requirement would pull a
# multi-GB CUDA build. Usage: scripts/setup_env.sh [EXTRA]   (e.g. `dev` for the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".${1:+[$1]}"
