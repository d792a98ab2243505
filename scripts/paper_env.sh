# Shared defaults of the paper's experiment scripts (sourced by them; every variable can be overridden
# from the environment). Paper settings: T5 v1.1 base LM-adapted, tasks glue-mnli / anli / superglue-record.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DATA_DIR=${DATA_DIR:-./data}
MODEL=${MODEL:-./pretrained_models/t5.1.1.lm100k.base}
TOKENIZER=${TOKENIZER:-$MODEL}
MODELS=${MODELS:-./models}
