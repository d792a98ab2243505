#!/usr/bin/env bash
# Adapter tuning in cartography mode: 8 epochs, per-example acc/confidence after each epoch -> cartography.json.
# Paper settings (Qin et al. 2022): T5 v1.1 base LM-adapted, 50k updates, batch 32, validation every 5k,
# checkpoints every 10k, seeds 20 30 40 50. Every variable below can be overridden from the environment.
# On a small machine lower TRAIN_ITERS (e.g. 200), VALID/OUTPUT intervals (e.g. 50/100), point MODEL at a
# small T5 (e.g. pretrained_models/t5-small-home) and TASKS at a prepared task (e.g. rotten_tomatoes).
# EXTRA_FLAGS is appended to every command (e.g. EXTRA_FLAGS="--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
TASKS=${TASKS:-"glue-mnli"}
SEEDS=${SEEDS:-"20"}
SAVE_PATH=${SAVE_PATH:-./models}
IDENTIFIER=${IDENTIFIER:-PET_adapter_cartography}
TRAIN_ITERS=${TRAIN_ITERS:-50000}
VALID_INTERVAL=${VALID_INTERVAL:-5000}
OUTPUT_INTERVAL=${OUTPUT_INTERVAL:-10000}

for TASK in $TASKS; do
for SEED in $SEEDS; do

echo "Seed: $SEED, Task: $TASK, Identifier: $IDENTIFIER"
"$PYTHON" tune_singletask.py \
  --task_dir "$DATA_DIR/$TASK" --do_train --do_predict \
  --learning_rate_list 5e-5 --bsz_list 64 --train_epochs "${TRAIN_EPOCHS:-8}" \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/$IDENTIFIER/$TASK-adapter-seed_$SEED" \
  --predict_batch_size 32 --tune_method adapter --log_interval 100 \
  --one_prefix --seed "$SEED" \
  --apply_adapter --adapter_type houlsby --adapter_size 12 --cartography ${EXTRA_FLAGS:-}
done
done
