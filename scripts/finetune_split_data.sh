#!/usr/bin/env bash
# Full fine-tuning on each half of the training set (--datasplit split1 / split2).
# Paper settings (Qin et al. 2022), as the original scripts/finetune_split_data.sh: T5 v1.1 base LM-adapted,
# Adafactor lr 5e-5, 50k updates, batch 32, validation every 5k, checkpoints every 10k, seeds 20 30; runs go to
# $SAVE_PATH/$IDENTIFIER/<task>-datasplit/seed_<seed>-<split>/lr_5e-05_bsz_32_seed_<seed>/, the folders
# itp_split_data_finetune.sh reads. Every variable below can be overridden from the environment.
# On a small machine lower TRAIN_ITERS (e.g. 200), VALID/OUTPUT intervals (e.g. 50/100), point MODEL at a
# small T5 (e.g. pretrained_models/t5-small-home) and TASKS at a prepared task (e.g. rotten_tomatoes).
# EXTRA_FLAGS is appended to every command (e.g. EXTRA_FLAGS="--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
TASKS=${TASKS:-"glue-mnli"}
SEEDS=${SEEDS:-"20 30"}
SPLITS=${SPLITS:-"split1 split2"}
SAVE_PATH=${SAVE_PATH:-./models}
IDENTIFIER=${IDENTIFIER:-PET_datasplit_finetune}
TRAIN_ITERS=${TRAIN_ITERS:-50000}
VALID_INTERVAL=${VALID_INTERVAL:-5000}
OUTPUT_INTERVAL=${OUTPUT_INTERVAL:-10000}
LOG_INTERVAL=${LOG_INTERVAL:-100}

for TASK in $TASKS; do
for SEED in $SEEDS; do
for SPLIT in $SPLITS; do

echo "Seed: $SEED, Task: $TASK, Split: $SPLIT, Identifier: $IDENTIFIER"
"$PYTHON" tune_singletask.py \
  --task_dir "$DATA_DIR/$TASK" --do_train --do_predict \
  --learning_rate_list 5e-5 --bsz_list 32 --train_iters "$TRAIN_ITERS" \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/$IDENTIFIER/$TASK-datasplit/seed_$SEED-$SPLIT" \
  --predict_batch_size 32 --tune_method model \
  --valid_interval "$VALID_INTERVAL" --output_interval "$OUTPUT_INTERVAL" --log_interval "$LOG_INTERVAL" \
  --one_prefix --seed "$SEED" --datasplit "$SPLIT" ${EXTRA_FLAGS:-}
done
done
done
