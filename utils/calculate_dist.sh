#!/usr/bin/env bash
# Distance between two tuned checkpoints (the paper's L2 distance / cosine similarity between minima).
# Example: the best adapter checkpoints of two runs of scripts/adapter_full_data.sh that differ only in
# their seed (SEEDS="20 30"). Any checkpoint format load_checkpoint reads works: project .pt/.safetensors,
# the original code's pickles, bare state dicts, Hugging Face model folders.
#   --type adapter     compare only tensors whose name contains "adapter_"
#   --type model       compare every tensor (full fine-tuning; "finetune" is accepted too)
#   --path DIR         also write DIR/distance.txt (and DIR/distance_per_layer.tsv with --per_layer)
#   --per_layer        also print L2 distance and cosine similarity per adapter / block
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=./models/PET_full_data_adapter
RUN1=$RUNS/glue-mnli-adapter-seed_20/lr_5e-05_bsz_32_seed_20
RUN2=$RUNS/glue-mnli-adapter-seed_30/lr_5e-05_bsz_32_seed_30

.venv/bin/python utils/calculate_dist.py \
  --input1 "$RUN1/checkpoint-best.pt" \
  --input2 "$RUN2/checkpoint-best.pt" \
  --type adapter \
  --path ./models/distance/glue-mnli-adapter-seed_20_vs_30 \
  --per_layer
