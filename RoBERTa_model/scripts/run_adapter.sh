#!/usr/bin/env bash
# Adapter tuning (bottleneck 24; adapters, layer norms and classifier train) on each task, from the paper's configs (RoBERTa-base step checkpoints in
# RoBERTa_model/checkpoint/ckpt_<STEP>/). The default tasks include mnli_seed30, the second endpoint that
# itp_diff_pretrain_adapter.sh reads (the original's script ran "mnli sst2" only). CONFIG_DIR=configs/minilm
# TASKS="snli_adapter" runs the small-machine configs on all-MiniLM-L6-v2 instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-../.venv/bin/python}
CONFIG_DIR=${CONFIG_DIR:-configs/adapter_roberta-base}
TASKS=${TASKS:-"mnli mnli_seed30 sst2"}
for task in $TASKS; do
  echo "Dealing Task $task"
  TOKENIZERS_PARALLELISM=false "$PYTHON" run_glue.py "$CONFIG_DIR/$task.json"
done
