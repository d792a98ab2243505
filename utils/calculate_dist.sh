#!/usr/bin/env bash
# Distance between two tuned checkpoints (the paper's L2 distance / cosine similarity between minima).
# Example: the best adapter checkpoints of two runs that differ only in their seed.
# Any checkpoint format load_checkpoint reads works: project .pt/.safetensors, the original code's
# pickles, bare state dicts, Hugging Face model folders.
#   --type adapter     compare only tensors whose name contains "adapter_"
#   --type model       compare every tensor (full fine-tuning)
#   --path DIR         also write DIR/distance.txt (and DIR/distance_per_layer.tsv with --per_layer)
#   --per_layer        also print L2 distance and cosine similarity per block / adapter
set -euo pipefail
cd "$(dirname "$0")/.."

# run folders of `tune_singletask.py --output_dir runs/mnli_adapter --learning_rate_list 5e-5 --bsz_list 32`
# with --seed 20 and with --seed 30 (see README.md)
RUN1=runs/mnli_adapter/lr_5e-05_bsz_32_seed_20
RUN2=runs/mnli_adapter/lr_5e-05_bsz_32_seed_30

.venv/bin/python utils/calculate_dist.py \
  --input1 "$RUN1/checkpoint-best.pt" \
  --input2 "$RUN2/checkpoint-best.pt" \
  --type adapter \
  --path runs/distance/mnli_seed20_vs_seed30 \
  --per_layer
