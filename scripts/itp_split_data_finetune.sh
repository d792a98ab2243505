#!/usr/bin/env bash
# Data overlap: endpoints fine-tuned on the two halves of the training set (--datasplit split1/split2).
# Paper settings (Qin et al. 2022); every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEP=100 bash itp_split_data_finetune.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-26}
TASK=${TASK:-glue-mnli}
STEPS=${STEPS:-"10000 30000 50000"}
SEED=${SEED:-20}
LR=${LR:-0.0001}
for STEP in $STEPS; do
echo "SEED: $SEED, STEP: $STEP, Task: $TASK"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_split_data/${TASK}_finetune_split1+split2/SEED${SEED}_STEP${STEP}" \
  --tune_method model --one_prefix \
  --load_PET_path_1 "$MODELS/PET_split_data_finetune/$TASK-model-split1-seed_$SEED/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP.pt" \
  --load_PET_path_2 "$MODELS/PET_split_data_finetune/$TASK-model-split2-seed_$SEED/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP.pt" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
done
