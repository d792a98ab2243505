#!/usr/bin/env bash
# Train a Bezier curve (one bend) between two adapter minima, then evaluate T5 at 26 points along it.
# Settings of the original scripts/adapter_curve_find.sh (Qin et al. 2022): the two endpoints are adapters tuned
# from the same seed with initialisation std 0.02 and 0.08 (50k updates); Adafactor at lr 1e-4, batch 16, 10000
# updates, validation every 100, the bend drawn from N(0, 0.02). Produce the endpoints with e.g.
#   SEEDS=20 bash scripts/adapter_full_data.sh
#   SEEDS=20 IDENTIFIER=PET_full_data_adapter_r_std_0.08 EXTRA_FLAGS="--r_std 0.08" bash scripts/adapter_full_data.sh
# or point PATH1/PATH2 at any two adapter checkpoints. Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP=100 TRAIN_ITERS=300 \
#     bash scripts/adapter_curve_find.sh
# EXTRA_FLAGS is appended last (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_curve_result}
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
LR=${LR:-1e-4}
BSZ=${BSZ:-16}
TRAIN_ITERS=${TRAIN_ITERS:-10000}
VALID_INTERVAL=${VALID_INTERVAL:-100}
OUTPUT_INTERVAL=${OUTPUT_INTERVAL:-1000}
POINTS=${POINTS:-26}
RUN_NAME=${RUN_NAME:-SEED${SEED}_std_0.02_and_0.08_STEP${STEP}_bend${BEND_NUM}_${CURVE_TYPE}}

echo "Task: $TASK, curve ($CURVE_TYPE, $BEND_NUM bend) between $PATH1 and $PATH2"
"$PYTHON" curve_find.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/curve_find/${TASK}_adapter_curve/$RUN_NAME" \
  --tune_method adapter --apply_adapter --adapter_type houlsby --adapter_size "$ADAPTER_SIZE" --one_prefix \
  --load_PET_path_1 "$PATH1" --load_PET_path_2 "$PATH2" \
  --bend_num "$BEND_NUM" --curve_type "$CURVE_TYPE" --bend_init random --bend_std "$BEND_STD" \
  --learning_rate "$LR" --train_batch_size "$BSZ" --train_iters "$TRAIN_ITERS" --predict_batch_size 100 \
  --valid_interval "$VALID_INTERVAL" --output_interval "$OUTPUT_INTERVAL" --log_interval 100 --seed "$SEED" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
