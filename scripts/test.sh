#!/usr/bin/env bash
# Sets up, builds and runs every test: unit + reference tests, the same unit tests under
# ASan+UBSan, a short libFuzzer run per parser, and the clang-format check.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh

echo "== format check"
scripts/format.sh --check

echo "== release build + all tests"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900

echo "== ASan+UBSan build + unit tests"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit --timeout 1800

echo "== fuzzers (short fixed time each)"
scripts/fuzz.sh "${R1_FUZZ_SECONDS:-20}"
echo "== all tests passed"
