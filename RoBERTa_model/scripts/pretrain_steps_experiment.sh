#!/usr/bin/env bash
# The pre-training-steps experiment at small scale (about 15 minutes on two CPU cores): pre-train a small
# RoBERTa with MLM saving several steps, adapter-tune seeds 20 and 30 from each, interpolate each pair,
# one combined plot (runs/pretrain_steps/pretrain_steps.png). Arguments go to
# RoBERTa_model/pretrain_steps_experiment.py (e.g. --task snli --pretrain_steps 200 800 2000).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python utils/prepare_data.py --tasks rotten_tomatoes snli --text
exec .venv/bin/python RoBERTa_model/pretrain_steps_experiment.py "$@"
