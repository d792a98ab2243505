#!/usr/bin/env bash
# The paper's findings tested at this scale, with a report: sets up what is missing like the quickstart, reuses
# finished runs and points, survives Ctrl-C (run it again to continue). Output: runs/paper/REPORT.md and its figures.
#   bash scripts/reproduce_paper.sh                   # profile small: all-MiniLM-L6-v2 and a small RoBERTa, 2 CPU cores
#   bash scripts/reproduce_paper.sh --quick           # reduced sizes: a smoke test (runs/paper-quick/)
#   bash scripts/reproduce_paper.sh --profile paper   # the paper's sizes on GPUs, with the backbones and task folders
#                                                     # you supply (README: "The paper's experiments with real checkpoints")
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1} TOKENIZERS_PARALLELISM=false
$PY utils/prepare_data.py  # snli, rotten_tomatoes, tweet_sentiment, tweet_polarity and the pre-training text
$PY utils/prepare_models.py
exec $PY experiments/reproduce_paper.py "$@"
