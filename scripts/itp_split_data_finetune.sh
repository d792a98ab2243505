#!/usr/bin/env bash
# Data overlap: endpoints fine-tuned on the two halves of the training set (--datasplit split1/split2).
# Paper settings (Qin et al. 2022), as the original scripts/itp_split_data_finetune.sh: glue-mnli, seeds 20 30,
# steps 10000 30000 50000, 26 points, endpoints from finetune_split_data.sh (lr 5e-5). Every variable can be
# overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEPS=100 bash itp_split_data_finetune.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-26}
TASK=${TASK:-glue-mnli}
STEPS=${STEPS:-"10000 30000 50000"}
SEEDS=${SEEDS:-"20 30"}
LR=${LR:-5e-05}
for SEED in $SEEDS; do
for STEP in $STEPS; do
echo "SEED: $SEED, Task: $TASK, STEP: $STEP"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_data_split/${TASK}_finetune_datasplit/seed${SEED}_STEP${STEP}" \
  --tune_method model --one_prefix \
  --load_PET_path_1 "$MODELS/PET_datasplit_finetune/$TASK-datasplit/seed_$SEED-split1/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP.pt" \
  --load_PET_path_2 "$MODELS/PET_datasplit_finetune/$TASK-datasplit/seed_$SEED-split2/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP.pt" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
done
done
