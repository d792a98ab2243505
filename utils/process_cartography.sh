#!/usr/bin/env bash
# Which training examples are forgotten first along an interpolation path, and what their data maps say.
#   --cartography_path  cartography.json from `tune_singletask.py --cartography` (per-example acc and
#                       gold-label confidence after every epoch)
#   --analysis_path     valid_data_analysis.json of an interpolation sweep evaluated on the training data
#                       (per interpolation point x: zero_list / one_list of example indices)
#   --save_path         result: a JSON list if it ends in .json, otherwise a tab-separated table
#                       (from, to, newly_forgotten, correctness, confidence, variability, turn)
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python utils/process_cartography.py \
  --cartography_path runs/mnli_cartography/cartography.json \
  --analysis_path runs/models_itp_result/itp_on_traindata/mnli_seed20_vs_seed30/valid_data_analysis.json \
  --save_path runs/cartography/mnli_seed20_vs_seed30/result.txt
