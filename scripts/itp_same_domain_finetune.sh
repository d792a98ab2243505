#!/usr/bin/env bash
# Same-domain tasks: endpoints fine-tuned on TASK1 and TASK2; the path is evaluated on each task in turn (two curves).
# Paper settings (Qin et al. 2022), as the original scripts/itp_same_domain_finetune.sh: glue-mnli and anli, steps
# 10000 30000 50000, seeds 20 30, 26 points, endpoints from finetune_full_data.sh. The original's script read
# lr_5e-05 folders, which its finetune_full_data.sh (lr 1e-4) never writes; LR=0.0001 reads the ones it writes.
# Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK1=snli TASK2=tweet_sentiment STEPS=100 bash itp_same_domain_finetune.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-26}
TASK1=${TASK1:-glue-mnli}
TASK2=${TASK2:-anli}
STEPS=${STEPS:-"10000 30000 50000"}
SEEDS=${SEEDS:-"20 30"}
LR=${LR:-0.0001}
for TASK in $TASK1 $TASK2; do
for STEP in $STEPS; do
for SEED in $SEEDS; do
echo "SEED: $SEED, STEP: $STEP, Test On: $TASK"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_same_domain/TestUse_${TASK}_${TASK1}+${TASK2}_samedomain_finetune/SEED${SEED}_STEP${STEP}" \
  --tune_method model --one_prefix \
  --load_PET_path_1 "$MODELS/PET_full_data_finetune/$TASK1-finetune-seed_$SEED/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP.pt" \
  --load_PET_path_2 "$MODELS/PET_full_data_finetune/$TASK2-finetune-seed_$SEED/lr_${LR}_bsz_32_seed_$SEED/checkpoint@$STEP.pt" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
done
done
done
