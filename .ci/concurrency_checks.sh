#!/usr/bin/env bash
# Concurrency checks (shared/spec/reliability.md T7 and T8), called by scripts/test.sh:
#   1. a clang build with ThreadSanitizer (NNUC_TSAN=ON, no CUDA) in its own folder;
#   2. the tests whose code runs on several threads (tests/CMakeLists.txt, NNUC_CONCURRENCY_TESTS): the
#      loader's workers, the preprocessed store's shared lazy checks, the preprocessing and verification
#      drivers, evaluation, export, postprocessing, ensembling, the allocator and convolution-plan caches,
#      the trainer's data pipeline and the embedded predictor from 1 to 8 threads with cancellation (and a
#      session refusing a second thread). A report from ThreadSanitizer fails the test.
# OpenMP: clang's libomp with LLVM's libarcher (OMP_TOOL_LIBRARIES) tells ThreadSanitizer about the
# barriers and reductions of every parallel region, so the kernels' OpenMP loops are checked too instead
# of being reported falsely. Debian packages: clang libclang-rt-14-dev libomp-14-dev.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${NNUC_CONCURRENCY_CHECKS_BUILD:-$root/build-concurrency-checks}"
jobs="${NNUC_JOBS:-2}"

llvm_lib="$(dirname "$(readlink -f "$(command -v clang)")")/../lib"
archer="$(readlink -f "$llvm_lib/libarcher.so" || true)"
if [ ! -f "$archer" ]; then
  echo "LLVM's libarcher.so is missing beside clang ($llvm_lib): install libomp-14-dev" >&2
  exit 1
fi

echo "== configure $build (clang, ThreadSanitizer, libomp + libarcher)"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNNUC_CUDA=OFF -DNNUC_TSAN=ON -DNNUC_BUILD_BENCH=OFF >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"$jobs" --target nnuc_concurrency_tests

export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$root/.ci/tsan.supp"
export OMP_TOOL_LIBRARIES="$archer"
export ARCHER_OPTIONS="verbose=1"
# Two OpenMP threads per test even on a one-core machine: the races to find are between threads.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" OMP_WAIT_POLICY=passive
export NNUC_PREDICTOR_THREAD_CALLS="${NNUC_PREDICTOR_THREAD_CALLS:-3}"

echo "== canary: ThreadSanitizer reports a race between std::threads and one inside an OpenMP loop"
clang++ -std=c++17 -g -O1 -fsanitize=thread -fopenmp=libomp "$root/.ci/tsan_canary.cpp" -o "$build/tsan_canary"
for mode in threads openmp; do
  if TSAN_OPTIONS="$TSAN_OPTIONS:abort_on_error=0" "$build/tsan_canary" "$mode" >"$build/tsan_canary_$mode.log" 2>&1 ||
      ! grep -q "WARNING: ThreadSanitizer: data race" "$build/tsan_canary_$mode.log"; then
    cat "$build/tsan_canary_$mode.log"
    echo "ThreadSanitizer missed the deliberate race ($mode): the checks below would prove nothing" >&2
    exit 1
  fi
done

echo "== tests on several threads under ThreadSanitizer"
log="$build/tsan_tests.log"
if ! ctest --test-dir "$build" -L tsan -V --no-tests=error -j"$jobs" --timeout 900 >"$log" 2>&1; then
  grep -n -B2 -A40 "WARNING: ThreadSanitizer" "$log" | head -n 200 || true
  tail -n 80 "$log"
  echo "tests failed under ThreadSanitizer (full log: $log)" >&2
  exit 1
fi
if ! grep -q "Archer detected OpenMP application with TSan" "$log"; then
  echo "libarcher did not load ($archer): OpenMP regions were not checked" >&2
  exit 1
fi
grep -E '\[predictor threads\]' "$log" | sed -E 's/^[0-9]+: //'
grep -E 'tests passed' "$log"
echo "== concurrency checks passed (ThreadSanitizer, OpenMP through libarcher)"
