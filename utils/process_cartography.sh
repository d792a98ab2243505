#!/usr/bin/env bash
# Which training examples are forgotten first along an interpolation path, and what their data maps say.
#   --cartography_path  cartography.json written by scripts/adapter_cartography.sh (tune_singletask.py
#                       --cartography): per-example acc and gold-label confidence after every epoch
#   --analysis_path     valid_data_analysis.json of scripts/itp_traindata_adapter.sh (task_interpolation.py
#                       --itp_on_train; per interpolation point x: zero_list / one_list of example indices)
#   --save_path         result: the original's text, one block per pair of consecutive points
#                       ("this is from interpolation point <a> ===> <b>", the count and the mean correctness,
#                       confidence, variance (the std of the confidence) and turn); <save_path>.tsv: the same as a table
# The defaults read what those two scripts write with their defaults; every variable can be overridden from the
# environment (TASK, SEED for the cartography run, SEED1/SEED2/STEP for the interpolation, or the paths themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TASK=${TASK:-glue-mnli}
SEED=${SEED:-20}
SEED1=${SEED1:-20}
SEED2=${SEED2:-30}
STEP=${STEP:-10000}
CARTOGRAPHY=${CARTOGRAPHY:-./models/PET_adapter_cartography/$TASK-adapter-seed_$SEED/cartography.json}
ITP_DIR=${ITP_DIR:-./models_itp_result/itp_on_traindata/${TASK}_adapter_diff-seed/SEED${SEED1}_and_SEED${SEED2}_STEP${STEP}}
ANALYSIS=${ANALYSIS:-$ITP_DIR/valid_data_analysis.json}
SAVE=${SAVE:-$ITP_DIR/result.txt}

"$PYTHON" utils/process_cartography.py \
  --cartography_path "$CARTOGRAPHY" \
  --analysis_path "$ANALYSIS" \
  --save_path "$SAVE"
