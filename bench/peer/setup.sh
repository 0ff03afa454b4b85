#!/usr/bin/env bash
# Installs the peer engine for bench/compare_peer.mjs: llama.cpp's prebuilt CPU builds from the
# npm packages node-llama-cpp + @node-llama-cpp/linux-x64 (no compiler, works offline after).
# Two copies: bench/peer/amx (as shipped, with the Sapphire Rapids AMX library) and
# bench/peer/noamx (that library removed, so llama.cpp falls back to its AVX-512 build: the
# AMX build aborts on DeepSeek files).
set -euo pipefail
cd "$(dirname "$0")"
for v in amx noamx; do
  if [ ! -d "$v/node_modules/node-llama-cpp" ]; then
    mkdir -p "$v"
    (cd "$v" && [ -f package.json ] || echo '{"private": true}' > package.json)
    (cd "$v" && npm install --no-audit --no-fund --loglevel=error --omit=optional --ignore-scripts \
      node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1)
  fi
done
find noamx/node_modules/@node-llama-cpp -name 'libggml-cpu-sapphirerapids.so' -delete
echo "peer: ok (bench/peer/amx, bench/peer/noamx)"
