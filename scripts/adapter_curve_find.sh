#!/usr/bin/env bash
# Train a Bezier curve (one bend) between two adapter minima, then evaluate T5 at 26 points along it.
# Settings of the original scripts/adapter_curve_find.sh (Qin et al. 2022): the two endpoints are adapters tuned
# from seed 20 with initialisation std 0.02 and 0.08 (50k updates); Adafactor at lr 1e-4, batch 16, 10000 updates,
# validation every 100 (at curve_find.py's default t, the original's), checkpoints every 10000, no gradient clipping,
# the bend drawn from N(0, 0.02), curve seed 42 (the original's default: its script passed no --seed). Output:
# $SAVE_PATH/full_data_curve_find_adapter/<task>_curve_find-seed_20_std_0.02_and_0.08_5w-bend_1, as the original.
# The original's endpoints came from runs no released script makes (lr 5e-4, batch 16); these come from
#   SEEDS=20 bash scripts/adapter_full_data.sh
#   SEEDS=20 IDENTIFIER=PET_full_data_adapter_r_std_0.08 EXTRA_FLAGS="--r_std 0.08" bash scripts/adapter_full_data.sh
# or point PATH1/PATH2 at any two adapter checkpoints. Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP=100 TRAIN_ITERS=300 \
#     bash scripts/adapter_curve_find.sh
# EXTRA_FLAGS is appended last (e.g. "--metric ACC --quiet", "--max_grad_norm 0.01", "--valid_t 0.25 0.5 0.75").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models}
IDENTIFIER=${IDENTIFIER:-full_data_curve_find_adapter}
TASK=${TASK:-glue-mnli}
SEED=${SEED:-20}
STEP=${STEP:-50000}
LR_ENDPOINTS=${LR_ENDPOINTS:-5e-05}
PATH1=${PATH1:-$MODELS/PET_full_data_adapter/$TASK-adapter-seed_$SEED/lr_${LR_ENDPOINTS}_bsz_32_seed_$SEED/checkpoint@$STEP.pt}
PATH2=${PATH2:-$MODELS/PET_full_data_adapter_r_std_0.08/$TASK-adapter-seed_$SEED/lr_${LR_ENDPOINTS}_bsz_32_seed_$SEED/checkpoint@$STEP.pt}
ADAPTER_SIZE=${ADAPTER_SIZE:-12}
BEND_NUM=${BEND_NUM:-1}
CURVE_TYPE=${CURVE_TYPE:-bezier}
BEND_STD=${BEND_STD:-0.02}
CURVE_SEED=${CURVE_SEED:-42}
LR=${LR:-1e-4}
BSZ=${BSZ:-16}
TRAIN_ITERS=${TRAIN_ITERS:-10000}
VALID_INTERVAL=${VALID_INTERVAL:-100}
OUTPUT_INTERVAL=${OUTPUT_INTERVAL:-10000}
LOG_INTERVAL=${LOG_INTERVAL:-100}
POINTS=${POINTS:-26}
if [ "$STEP" = 50000 ]; then STEP_TAG=5w; else STEP_TAG=step$STEP; fi  # the original's name: 5w = 50000 updates
if [ "$CURVE_TYPE" = bezier ]; then TYPE_TAG=""; else TYPE_TAG="-$CURVE_TYPE"; fi
RUN_NAME=${RUN_NAME:-${TASK}_curve_find-seed_${SEED}_std_0.02_and_0.08_${STEP_TAG}-bend_${BEND_NUM}${TYPE_TAG}}

echo "Task: $TASK, curve ($CURVE_TYPE, $BEND_NUM bend) between $PATH1 and $PATH2"
"$PYTHON" curve_find.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/$IDENTIFIER/$RUN_NAME" \
  --tune_method adapter --apply_adapter --adapter_type houlsby --adapter_size "$ADAPTER_SIZE" --one_prefix \
  --load_PET_path_1 "$PATH1" --load_PET_path_2 "$PATH2" \
  --bend_num "$BEND_NUM" --curve_type "$CURVE_TYPE" --bend_init random --bend_std "$BEND_STD" \
  --learning_rate "$LR" --train_batch_size "$BSZ" --train_iters "$TRAIN_ITERS" --predict_batch_size 100 \
  --valid_interval "$VALID_INTERVAL" --output_interval "$OUTPUT_INTERVAL" --log_interval "$LOG_INTERVAL" \
  --seed "$CURVE_SEED" --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
