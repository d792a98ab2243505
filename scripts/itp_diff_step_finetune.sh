#!/usr/bin/env bash
# Interpolate between fine-tuned checkpoints taken at different steps.
# Paper settings (Qin et al. 2022), as the original scripts/itp_diff_step_finetune.sh: superglue-record, seed 20 at
# step 10000 and seed 30 at step 50000 (the checkpoints finetune_full_data.sh writes), 26 points. STEP_PAIRS holds
# STEP1:STEP2 pairs (e.g. "10000:20000 40000:50000"); SEED2=$SEED1 compares steps of one run. The output folder is
# the original's SEED<s1>_STEP<step1>_and_SEED<s2>_STEP<step2> (the original's script left the last step empty).
# Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP_PAIRS=100:200 bash itp_diff_step_finetune.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-26}
TASK=${TASK:-superglue-record}
SEED1=${SEED1:-20}
SEED2=${SEED2:-30}
STEP_PAIRS=${STEP_PAIRS:-"10000:50000"}
LR=${LR:-0.0001}
for PAIR in $STEP_PAIRS; do
STEP1=${PAIR%%:*}; STEP2=${PAIR##*:}
echo "SEED1: $SEED1, SEED2: $SEED2, STEP1: $STEP1, STEP2: $STEP2, Task: $TASK"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_diff_step/${TASK}_finetune_diff-step/SEED${SEED1}_STEP${STEP1}_and_SEED${SEED2}_STEP${STEP2}" \
  --tune_method model --one_prefix \
  --load_PET_path_1 "$MODELS/PET_full_data_finetune/$TASK-finetune-seed_$SEED1/lr_${LR}_bsz_32_seed_$SEED1/checkpoint@$STEP1.pt" \
  --load_PET_path_2 "$MODELS/PET_full_data_finetune/$TASK-finetune-seed_$SEED2/lr_${LR}_bsz_32_seed_$SEED2/checkpoint@$STEP2.pt" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
done
