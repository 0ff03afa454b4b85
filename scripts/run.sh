#!/usr/bin/env bash
# Sets up, builds, and runs the main job on a model: describes it and tokenizes a prompt with its
# own tokenizer and chat template. With no MODEL, makes a small DeepSeek-R1-shaped test model.
# Usage: scripts/run.sh [MODEL] [PROMPT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
scripts/build.sh build >/dev/null
model=${1:-}
prompt=${2:-"What is 2 + 2?"}
if [ -z "$model" ]; then
  model=build/demo/r1-tiny.gguf
  mkdir -p build/demo
  if [ ! -f "$model" ]; then
    echo "r1: no model given; making a small random-weight DeepSeek-R1-shaped model at $model"
    build/r1 make-test-model --arch deepseek_v3 --shape tiny --type Q8_0 -q "$model"
  fi
fi
build/r1 inspect "$model"
echo
echo "== prompt, rendered with the model's chat template and tokenized"
printf '[{"role":"user","content":%s}]' "$(printf '%s' "$prompt" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" |
  build/r1 tokenize "$model" --chat
