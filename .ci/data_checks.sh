#!/usr/bin/env bash
# Data-layer checks for the NIfTI reader (shared/spec/reliability.md T1, T2, T7), called by .ci/run:
#   1. a clang build with ASan + UBSan and the libFuzzer targets (NNUC_SANITIZE=ON, NNUC_FUZZ=ON,
#      no CUDA) in its own folder;
#   2. the data layer's tests (tests/data) under the sanitizers: the NIfTI malformed corpus (generated
#      into the build folder), round trips, atomic writes, the nibabel conformance on Debian's files,
#      raw datasets, verification and preprocessing;
#   3. the seed corpora, then each fuzz target for a bounded time (NNUC_FUZZ_SECONDS, default 60): the
#      NIfTI header and reader, and the pickle reader of nnU-Net's .pth checkpoints (seeds: the data.pkl
#      members of the checkpoints under tests/nn/fixtures, taken out with Python's zipfile).
# Debian packages it needs: clang libclang-rt-14-dev python3-nibabel python3-dipy mricron-data.
# The conformance test uses /usr/bin/python3 (Debian's, with nibabel), not a python3 on PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${NNUC_DATA_CHECKS_BUILD:-$root/build-data-checks}"
fuzz_seconds="${NNUC_FUZZ_SECONDS:-60}"
jobs="${NNUC_JOBS:-2}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$root/.ci/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== configure $build (clang, ASan + UBSan, libFuzzer)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNNUC_CUDA=OFF -DNNUC_SANITIZE=ON -DNNUC_FUZZ=ON -DNNUC_BUILD_BENCH=OFF
cmake --build "$build" -j"$jobs" --target nnuc_data_tests fuzz_nifti_header fuzz_nifti_read fuzz_pickle \
  nnuc_nifti_seed_corpus

echo "== data-layer tests under ASan + UBSan (NIfTI, raw datasets, preprocessing)"
tests_log="$build/nifti_tests.log"
if ! ctest --test-dir "$build" -L sanitized -V --no-tests=error >"$tests_log" 2>&1; then
  tail -n 200 "$tests_log"
  echo "data-layer tests failed under the sanitizers (full log: $tests_log)" >&2
  exit 1
fi
grep -E '\[ (corpus|nibabel|skipped) ' "$tests_log" | sed -E 's/^[0-9]+: //'
grep -E 'tests passed' "$tests_log"

echo "== libFuzzer, ${fuzz_seconds} s per target"
corpus="$build/fuzz/corpus"
rm -rf "$corpus"
"$build/fuzz/nnuc_nifti_seed_corpus" "$corpus/seed"
mkdir -p "$corpus/pickle_seed"
/usr/bin/python3 - "$root/tests/nn/fixtures" "$corpus/pickle_seed" <<'PY'
import pathlib, sys, zipfile
fixtures, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
count = 0
for pth in sorted(fixtures.rglob("*.pth")):
    try:
        with zipfile.ZipFile(pth) as archive:
            for name in archive.namelist():
                if name.endswith(".pkl"):
                    count += 1
                    (out / f"seed_{count:03d}.pkl").write_bytes(archive.read(name))
    except zipfile.BadZipFile:
        pass  # the hostile fixtures include archives that are not zip files
if count == 0:
    sys.exit(f"no data.pkl found in the checkpoints under {fixtures}")
print(f"pickle seeds: {count} from {fixtures}")
PY
summary=""
for target in nifti_header nifti_read pickle; do
  work="$corpus/$target"
  log="$build/fuzz/$target.log"
  mkdir -p "$work"
  seed="$corpus/seed" max_len=4096 dict=(-dict="$root/fuzz/nifti.dict")
  [ "$target" = nifti_read ] && max_len=65536
  [ "$target" = pickle ] && seed="$corpus/pickle_seed" max_len=65536 dict=()
  if ! "$build/fuzz/fuzz_$target" "$work" "$seed" -max_total_time="$fuzz_seconds" -max_len="$max_len" \
      -rss_limit_mb=2560 -malloc_limit_mb=512 -timeout=25 "${dict[@]}" -print_final_stats=1 \
      -artifact_prefix="$build/fuzz/crash_${target}_" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz_$target found a failure; reproducer: $build/fuzz/crash_${target}_*" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(( runs / fuzz_seconds ))
  summary="$summary fuzz_$target: $runs executions ($rate/s);"
  echo "fuzz_$target: $runs executions (~$rate/s over ${fuzz_seconds} s), no finding"
done
echo "== data checks passed:$summary"
