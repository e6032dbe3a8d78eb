#!/usr/bin/env bash
# The whole CPU test suite (ctest -L cpu: unit tests, the nnuc command's tests, training, kill and
# resume, find-best, fine-tuning, the cascade, the embedding package) under AddressSanitizer and
# UndefinedBehaviorSanitizer (shared/spec/reliability.md T7), in a clang build of its own:
#   scripts/sanitize.sh [CTEST_ARGS...]     e.g. scripts/sanitize.sh -R Trainer
# A finding aborts its test (-fno-sanitize-recover, halt_on_error, abort_on_error), so any report fails.
# On the 2-core development machine the build takes about 8 minutes and the suite about 8 more, so CI
# runs the data layer's share of it (.ci/data_checks.sh) and the threaded tests under ThreadSanitizer
# (.ci/concurrency_checks.sh); this script is the whole run before a release or after a change to
# memory handling.
#   NNUC_SANITIZE_BUILD=DIR   the build folder (default ./build-sanitize)
#   NNUC_JOBS=N               parallel jobs (default: the number of cores)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${NNUC_SANITIZE_BUILD:-$root/build-sanitize}"
jobs="${NNUC_JOBS:-$(nproc 2>/dev/null || echo 2)}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNNUC_CUDA=OFF -DNNUC_SANITIZE=ON -DNNUC_BUILD_BENCH=OFF
cmake --build "$build" -j"$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/.ci/lsan.supp:print_suppressions=0"
export OMP_WAIT_POLICY=passive
ctest --test-dir "$build" -L cpu -j"$jobs" --timeout 1800 --output-on-failure "$@"
echo "== the CPU suite passed under ASan + UBSan ($build)"
