#!/usr/bin/env bash
# Interpolate between adapters tuned from different initialisations (seeds).
# Paper settings (Qin et al. 2022), as the original scripts/itp_diff_seed_adapter.sh: glue-mnli, seeds 20 and 30,
# the checkpoints at step 50000 that adapter_full_data.sh writes, 26 points. STEPS="10000 30000 50000" sweeps
# several steps. Every variable can be overridden from the environment, e.g.
#   SAVE_PATH=runs MODEL=pretrained_models/t5-small-home TASK=rotten_tomatoes STEPS=100 bash itp_diff_seed_adapter.sh
# EXTRA_FLAGS is appended to every command (e.g. "--metric ACC --quiet").
source "$(dirname "$0")/paper_env.sh"
SAVE_PATH=${SAVE_PATH:-./models_itp_result}
POINTS=${POINTS:-26}
TASK=${TASK:-glue-mnli}
STEPS=${STEPS:-"50000"}
SEED1=${SEED1:-20}
SEED2=${SEED2:-30}
LR=${LR:-5e-05}
for STEP in $STEPS; do
echo "SEED1: $SEED1, SEED2: $SEED2, STEP: $STEP, Task: $TASK"
"$PYTHON" task_interpolation.py \
  --task_dir "$DATA_DIR/$TASK" --do_valid --do_predict \
  --model "$MODEL" --tokenizer_path "$TOKENIZER" \
  --output_dir "$SAVE_PATH/itp_diff_seed/${TASK}_adapter_diff-seed/SEED${SEED1}_and_SEED${SEED2}_STEP${STEP}" \
  --tune_method adapter --one_prefix --apply_adapter --adapter_type houlsby --adapter_size 12 \
  --load_PET_path_1 "$MODELS/PET_full_data_adapter/$TASK-adapter-seed_$SEED1/lr_${LR}_bsz_32_seed_$SEED1/checkpoint@$STEP.pt" \
  --load_PET_path_2 "$MODELS/PET_full_data_adapter/$TASK-adapter-seed_$SEED2/lr_${LR}_bsz_32_seed_$SEED2/checkpoint@$STEP.pt" \
  --itpl_points "$POINTS" ${EXTRA_FLAGS:-}
done
