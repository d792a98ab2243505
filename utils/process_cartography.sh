#!/usr/bin/env bash
# Which training examples are forgotten first along an interpolation path, and what their data maps say.
#   --cartography_path  cartography.json written by scripts/adapter_cartography.sh (tune_singletask.py
#                       --cartography): per-example acc and gold-label confidence after every epoch
#   --analysis_path     valid_data_analysis.json of task_interpolation.py --itp_on_train between two of
#                       those runs (per interpolation point x: zero_list / one_list of example indices)
#   --save_path         result: a JSON list if it ends in .json, otherwise a tab-separated table with the
#                       columns from, to, newly_forgotten, correctness, confidence, variability, turn
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python utils/process_cartography.py \
  --cartography_path ./models/PET_adapter_cartography/glue-mnli-adapter-seed_20/cartography.json \
  --analysis_path ./models_itp_result/itp_on_traindata/glue-mnli-adapter-seed_20_vs_30/valid_data_analysis.json \
  --save_path ./models_itp_result/itp_on_traindata/glue-mnli-adapter-seed_20_vs_30/result.txt
