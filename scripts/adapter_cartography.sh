#!/usr/bin/env bash
# Adapter tuning in cartography mode: per-example acc/confidence after every epoch -> cartography.json.
# Paper settings (Qin et al. 2022), as the original scripts/adapter_cartography.sh: T5 v1.1 base LM-adapted,
# Adafactor lr 5e-5, batch 64, 8 epochs, seed 20; the data map goes to
# $SAVE_PATH/$IDENTIFIER/<task>-adapter-seed_<seed>/cartography.json, the file utils/process_cartography.sh reads.
# Every variable below can be overridden from the environment. On a small machine lower TRAIN_EPOCHS (e.g. 2),
# point MODEL at a small T5 (e.g. pretrained_models/t5-small-home) and TASKS at a prepared task (e.g. rotten_tomatoes).
# EXTRA_FLAGS is appended to every command (e.g. EXTRA_FLAGS="--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
TASKS=${TASKS:-"glue-mnli"}
SEEDS=${SEEDS:-"20"}
SAVE_PATH=${SAVE_PATH:-./models}
IDENTIFIER=${IDENTIFIER:-PET_adapter_cartography}
TRAIN_EPOCHS=${TRAIN_EPOCHS:-8}

for TASK in $TASKS; do
for SEED in $SEEDS; do

echo "Seed: $SEED, Task: $TASK, Identifier: $IDENTIFIER"
"$PYTHON" tune_singletask.py \
  --task_dir "$DATA_DIR/$TASK" --do_train --do_predict \
  --learning_rate_list 5e-5 --bsz_list 64 --train_epochs "$TRAIN_EPOCHS" \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/$IDENTIFIER/$TASK-adapter-seed_$SEED" \
  --predict_batch_size 32 --tune_method adapter --log_interval 100 \
  --one_prefix --seed "$SEED" \
  --apply_adapter --adapter_type houlsby --adapter_size 12 --cartography ${EXTRA_FLAGS:-}
done
done
