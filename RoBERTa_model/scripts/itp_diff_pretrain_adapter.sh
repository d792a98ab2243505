#!/usr/bin/env bash
# Interpolate between two adapter runs (seeds 20 and 30) tuned from the same pre-training step checkpoint.
# The config gives the backbone (model_name_or_path), path1/path2 and output_dir; write one per step
# (e.g. copy configs/adapter_roberta-base/mnli_itp_pretrain_pre15k.json and change 15000 to the step).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-../.venv/bin/python}
CONFIGS=${CONFIGS:-"configs/adapter_roberta-base/mnli_itp_pretrain_pre15k.json"}
for config in $CONFIGS; do
  echo "Interpolating: $config"
  TOKENIZERS_PARALLELISM=false "$PYTHON" itp_pretrain_adapter.py "$config"
done
