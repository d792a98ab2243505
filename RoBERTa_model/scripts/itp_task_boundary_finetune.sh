#!/usr/bin/env bash
# Task boundary: two models fully fine-tuned on different tasks (MNLI, 3 labels; SST-2, 2 labels), the path
# between them evaluated on each task in turn (the head comes from the endpoint trained on that task).
# CONFIG_DIR=configs/minilm TASKS="snli rotten_tomatoes" PREFIX=itp_boundary_TestUse_ SUFFIX= for the small ones.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-../.venv/bin/python}
CONFIG_DIR=${CONFIG_DIR:-configs/roberta-base}
TASKS=${TASKS:-"mnli sst2"}
PREFIX=${PREFIX:-itp_boundary_TestUse_}
SUFFIX=${SUFFIX-_pre15k}
for task in $TASKS; do
  echo "Test on: $task"
  TOKENIZERS_PARALLELISM=false "$PYTHON" itp_task_boundary_finetune.py "$CONFIG_DIR/$PREFIX$task$SUFFIX.json"
done
