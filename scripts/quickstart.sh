#!/usr/bin/env bash
# The main job: sets up what is missing (virtual environment, prepared snli, all-MiniLM-L6-v2), tunes two
# minima per method (full fine-tuning and adapters, seeds 20 and 30), sweeps the straight path between each
# pair (26 points, dev and test) and prints the barriers. Outputs: runs/quickstart/.
#   bash scripts/quickstart.sh            # reuse finished runs and sweep points
#   bash scripts/quickstart.sh --force    # redo everything
#   bash scripts/quickstart.sh --track t5 # the same with the home-built small T5 (built first if missing)
#   bash scripts/quickstart.sh --track causal # a home-built small causal LM, full fine-tuning and LoRA
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [[ " $* " == *" --track causal "* ]]; then
  $PY utils/prepare_data.py --tasks rotten_tomatoes --text
  if [ ! -f pretrained_models/causal-small-home/config.json ]; then
    echo "[quickstart] building the home-made small causal LM (pre-training, about 12 minutes, once)"
    $PY causal_model/pretrain_causal.py --out pretrained_models/causal-small-home
  fi
elif [[ " $* " == *" --track t5 "* ]]; then
  $PY utils/prepare_data.py --tasks rotten_tomatoes --text
  $PY utils/prepare_models.py  # all-MiniLM-L6-v2: the home T5 starts its embeddings from its word embeddings
  if [ ! -f pretrained_models/t5-small-home/config.json ]; then
    echo "[quickstart] building the home-made small T5 (pre-training, about 10 minutes, once)"
    $PY T5_model/pretrain_t5.py --out pretrained_models/t5-small-home
  fi
else
  $PY utils/prepare_data.py --tasks snli
  $PY utils/prepare_models.py
fi
exec $PY experiments/quickstart.py "$@"
