#!/usr/bin/env bash
# Knowledge change on the training data: which training examples each point gets right (--itp_on_train); feeds
# utils/process_cartography.sh (valid_data_analysis.json of the output folder).
# Paper settings (Qin et al. 2022), as the original scripts/itp_traindata_adapter.sh: glue-mnli, adapters of seeds
# 20 and 30 from adapter_full_data.sh, 6 points. The original read checkpoint@10.pt, which adapter_full_data.sh
# (a checkpoint every 10000 updates) never writes; STEP=10000 reads its first checkpoint.
# Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP=100 bash itp_traindata_adapter.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-6}
TASK=${TASK:-glue-mnli}
STEP=${STEP:-10000}
SEED1=${SEED1:-20}
SEED2=${SEED2:-30}
LR=${LR:-5e-05}
echo "SEED1: $SEED1, SEED2: $SEED2, STEP: $STEP, Task: $TASK"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_on_traindata/${TASK}_adapter_diff-seed/SEED${SEED1}_and_SEED${SEED2}_STEP${STEP}" \
  --tune_method adapter --one_prefix --apply_adapter --adapter_type houlsby --adapter_size 12 \
  --load_PET_path_1 "$MODELS/PET_full_data_adapter/$TASK-adapter-seed_$SEED1/lr_${LR}_bsz_32_seed_$SEED1/checkpoint@$STEP.pt" \
  --load_PET_path_2 "$MODELS/PET_full_data_adapter/$TASK-adapter-seed_$SEED2/lr_${LR}_bsz_32_seed_$SEED2/checkpoint@$STEP.pt" \
  --itpl_points "$POINTS" --itp_on_train ${EXTRA_FLAGS:-}
