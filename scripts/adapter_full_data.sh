#!/usr/bin/env bash
# Adapter tuning (Houlsby, size 12) on the whole training set, one run per task and seed.
# Paper settings (Qin et al. 2022), as the original scripts/adapter_full_data.sh: T5 v1.1 base LM-adapted,
# Adafactor lr 5e-5, 50k updates, batch 32, validation every 5k, checkpoints every 10k, a log line every 2
# updates, seeds 20 30 40 50; runs go to $SAVE_PATH/$IDENTIFIER/<task>-adapter-seed_<seed>/lr_5e-05_bsz_32_seed_<seed>/,
# the folders itp_diff_seed_adapter.sh and itp_traindata_adapter.sh read. Every variable below can be overridden
# from the environment. On a small machine lower TRAIN_ITERS (e.g. 200), VALID/OUTPUT intervals (e.g. 50/100),
# point MODEL at a small T5 (e.g. pretrained_models/t5-small-home) and TASKS at a prepared task (e.g. rotten_tomatoes).
# EXTRA_FLAGS is appended to every command (e.g. EXTRA_FLAGS="--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
TASKS=${TASKS:-"superglue-record glue-mnli anli"}
SEEDS=${SEEDS:-"20 30 40 50"}
SAVE_PATH=${SAVE_PATH:-./models}
IDENTIFIER=${IDENTIFIER:-PET_full_data_adapter}
TRAIN_ITERS=${TRAIN_ITERS:-50000}
VALID_INTERVAL=${VALID_INTERVAL:-5000}
OUTPUT_INTERVAL=${OUTPUT_INTERVAL:-10000}
LOG_INTERVAL=${LOG_INTERVAL:-2}

for TASK in $TASKS; do
for SEED in $SEEDS; do

echo "Seed: $SEED, Task: $TASK, Identifier: $IDENTIFIER"
"$PYTHON" tune_singletask.py \
  --task_dir "$DATA_DIR/$TASK" --do_train --do_predict \
  --learning_rate_list 5e-5 --bsz_list 32 --train_iters "$TRAIN_ITERS" \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/$IDENTIFIER/$TASK-adapter-seed_$SEED" \
  --predict_batch_size 32 --tune_method adapter \
  --valid_interval "$VALID_INTERVAL" --output_interval "$OUTPUT_INTERVAL" --log_interval "$LOG_INTERVAL" \
  --one_prefix --seed "$SEED" \
  --apply_adapter --adapter_type houlsby --adapter_size 12 ${EXTRA_FLAGS:-}
done
done
