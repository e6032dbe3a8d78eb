#!/usr/bin/env bash
# Runs nnuc's tests: the CTest suite (labels cpu and gpu; GPU tests skip without a device), then
# the data checks (sanitizers, fuzzing, conformance with nibabel/scipy) when their script exists.
# Builds first if ./build is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/CMakeCache.txt ] || scripts/setup.sh
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
ctest --test-dir build --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 900
if [ -x .ci/data_checks.sh ]; then .ci/data_checks.sh; fi
