#!/usr/bin/env bash
# Interpolate between checkpoints of one fine-tuning run taken at different steps.
# Paper settings (Qin et al. 2022); every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP=100 bash itp_diff_step_finetune.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-26}
TASK=${TASK:-glue-mnli}
SEED=${SEED:-20}
STEP_PAIRS=${STEP_PAIRS:-"10000:20000 10000:50000 40000:50000"}
LR=${LR:-0.0001}
for PAIR in $STEP_PAIRS; do
STEP1=${PAIR%%:*}; STEP2=${PAIR##*:}
echo "SEED: $SEED, STEP1: $STEP1, STEP2: $STEP2, Task: $TASK"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_diff_step/${TASK}_finetune_diff-step/SEED${SEED}_STEP${STEP1}_and_STEP${STEP2}" \
  --tune_method model --one_prefix \
  --load_PET_path_1 "$MODELS/PET_full_data_finetune/$TASK-model-seed_$SEED/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP1.pt" \
  --load_PET_path_2 "$MODELS/PET_full_data_finetune/$TASK-model-seed_$SEED/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP2.pt" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
done
