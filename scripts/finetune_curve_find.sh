#!/usr/bin/env bash
# Train a Bezier curve (one bend) between two fully fine-tuned models, then evaluate T5 at 26 points along it.
# Settings of the original scripts/finetune_curve_find.sh (Qin et al. 2022): endpoints of seeds 20 and 30 at step
# 50000; Adafactor at lr 1e-4, batch 8, 5000 updates, validation every 100 on the first 1000 dev examples (at
# curve_find.py's default t for full models, the original's 0.25 0.5 0.75), checkpoints every 10000, a log line
# every 10 updates, no gradient clipping, the bend initialised at the midpoint of the straight line, curve seed 42
# (the original's default: its script passed no --seed). Output:
# $SAVE_PATH/full_data_curve_find_finetune/<task>_finetune-diff-perterb/SEED_20_and_SEED_30_STEP_50000, as the original.
# The original's endpoints came from a perturbation run no released script makes (PET_perterb_finetune); these are
#   SEEDS="20 30" bash scripts/finetune_full_data.sh
# or point PATH1/PATH2 at any two full-model checkpoints. Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP=100 TRAIN_ITERS=300 \
#     bash scripts/finetune_curve_find.sh
# EXTRA_FLAGS is appended last (e.g. "--metric ACC --quiet", "--max_grad_norm 0.01").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models}
IDENTIFIER=${IDENTIFIER:-full_data_curve_find_finetune}
TASK=${TASK:-glue-mnli}
SEED1=${SEED1:-20}
SEED2=${SEED2:-30}
STEP=${STEP:-50000}
LR_ENDPOINTS=${LR_ENDPOINTS:-0.0001}
PATH1=${PATH1:-$MODELS/PET_full_data_finetune/$TASK-finetune-seed_$SEED1/lr_${LR_ENDPOINTS}_bsz_32_seed_$SEED1/checkpoint@$STEP.pt}
PATH2=${PATH2:-$MODELS/PET_full_data_finetune/$TASK-finetune-seed_$SEED2/lr_${LR_ENDPOINTS}_bsz_32_seed_$SEED2/checkpoint@$STEP.pt}
BEND_NUM=${BEND_NUM:-1}
CURVE_TYPE=${CURVE_TYPE:-bezier}
CURVE_SEED=${CURVE_SEED:-42}
LR=${LR:-1e-4}
BSZ=${BSZ:-8}
TRAIN_ITERS=${TRAIN_ITERS:-5000}
VALID_INTERVAL=${VALID_INTERVAL:-100}
OUTPUT_INTERVAL=${OUTPUT_INTERVAL:-10000}
LOG_INTERVAL=${LOG_INTERVAL:-10}
POINTS=${POINTS:-26}
if [ "$BEND_NUM" = 1 ] && [ "$CURVE_TYPE" = bezier ]; then CURVE_TAG=""; else CURVE_TAG="_bend${BEND_NUM}_$CURVE_TYPE"; fi
RUN_NAME=${RUN_NAME:-SEED_${SEED1}_and_SEED_${SEED2}_STEP_${STEP}${CURVE_TAG}}

echo "Task: $TASK, curve ($CURVE_TYPE, $BEND_NUM bend) between $PATH1 and $PATH2"
"$PYTHON" curve_find.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict --choose_dev_1000 \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/$IDENTIFIER/${TASK}_finetune-diff-perterb/$RUN_NAME" \
  --tune_method model --one_prefix \
  --load_PET_path_1 "$PATH1" --load_PET_path_2 "$PATH2" \
  --bend_num "$BEND_NUM" --curve_type "$CURVE_TYPE" --bend_init midpoint \
  --learning_rate "$LR" --train_batch_size "$BSZ" --train_iters "$TRAIN_ITERS" --predict_batch_size 100 \
  --valid_interval "$VALID_INTERVAL" --output_interval "$OUTPUT_INTERVAL" --log_interval "$LOG_INTERVAL" \
  --seed "$CURVE_SEED" --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
