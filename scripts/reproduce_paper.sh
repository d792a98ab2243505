#!/usr/bin/env bash
# The paper's findings at small scale (all-MiniLM-L6-v2 on snli), with a report: sets up what is missing like the
# quickstart, reuses finished runs and points (experiment 1 reuses runs/quickstart/), survives Ctrl-C (run it
# again to continue). Output: runs/paper/REPORT.md and its figures.
#   bash scripts/reproduce_paper.sh           # every experiment, full sizes
#   bash scripts/reproduce_paper.sh --quick   # reduced sizes: a smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
$PY utils/prepare_data.py  # snli, rotten_tomatoes, tweet_sentiment and the pre-training text
$PY utils/prepare_models.py
exec $PY experiments/reproduce_paper.py "$@"
