#!/usr/bin/env bash
# Runs nnuc's tests: the layer check (.ci/check_layers.py: no include crosses the layers of
# shared/DESIGN.md), the format check when NNUC_CHECK_FORMAT=1 (.ci/check_format.sh), the CTest
# suite (labels cpu and gpu; GPU tests skip without a device), then the data checks (sanitizers,
# fuzzing, conformance with nibabel/scipy) and the concurrency checks (ThreadSanitizer) when their
# scripts exist. Builds first if ./build is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/CMakeCache.txt ] || scripts/setup.sh
python3 .ci/check_layers.py
if [ "${NNUC_CHECK_FORMAT:-0}" = 1 ]; then .ci/check_format.sh; fi
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
# Tests run side by side (ctest -j): OpenMP threads that spin while waiting would take the cores from
# each other (2 spinning threads cost several times the CPU time of passive ones on a busy machine).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --test-dir build --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 900
if [ -x .ci/data_checks.sh ]; then .ci/data_checks.sh; fi
if [ -x .ci/concurrency_checks.sh ]; then .ci/concurrency_checks.sh; fi
