#!/usr/bin/env bash
# Sets up, builds, and runs the main job: describes the model and answers a prompt with it
# (`r1 run`, reasoning shown apart from the answer). With no MODEL, r1 makes and uses a small
# random-weight DeepSeek-R1-shaped demo model (so the answer is nonsense, by construction).
# Usage: scripts/run.sh [MODEL] [PROMPT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
scripts/build.sh build >/dev/null
model=${1:-}
prompt=${2:-"What is 2 + 2? Please reason step by step."}
if [ -n "$model" ]; then
  build/r1 inspect "$model"
  echo
  exec build/r1 run "$model" -p "$prompt" -n 128 --verbose
fi
exec build/r1 run -p "$prompt" -n 128 --verbose
