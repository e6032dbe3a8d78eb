#!/usr/bin/env bash
# Every GPU check of nnuc in one run, for an H100/H200 machine that has the NVIDIA driver, nvcc,
# CMake and PyTorch but no package registry and none of nnuc's Debian dependencies.
#
#   tests/gpu/run_gpu_checks.sh [RESULTS_DIR]     (default: $OUT if set, else bench/results/gpu-<date>)
#
# Uses gpu-bundle/ (made on the development machine by scripts/build_gpu_bundle.sh and carried
# over). Every step runs under its own timeout, so one that hangs loses only its own result, and
# the caps below add up to under 9 minutes (a global deadline also cuts any step short that would
# pass it). gpu_summary.md lists each step's status and seconds.
#   1. locate cuDNN 9 / cuBLAS 13 / cudart (system CUDA or PyTorch's nvidia pip packages)     20 s
#   2. nnuc_gpu_tests, one process per test suite (each suite under its own timeout, at most
#      90 s; 150 s for all), merged into gpu_tests.json; CudaOverheadGpu runs first in its own
#      process and measures the fixed CUDA overhead                                            150 s
#   3. compute-sanitizer memcheck and racecheck over a short subset of the GPU tests (skipped
#      with a message when compute-sanitizer is missing or refuses the device)             65 + 40 s
#   4. nnuc_kernel_bench (CUDA benchmarks) and bench/baselines/torch_kernels.py on the same shapes;
#      one training step of the default 3-D U-Net (128^3, batch 2, bf16) in nnuc and in PyTorch;
#      one full training iteration of nnuc train (loader, augmentation on the GPU, step) at 3d_fullres
#      128^3 batch 2 bf16 (bench/nn/training_iteration_bench.cpp);
#      `nnuc memory --measure-cuda` for that step (StepMemoryGpu's lines in the test log compare
#      the prediction with the device's own numbers)                            45+45+30+45+35+20 s
#   5. the activation-layout measurement (bench/baselines/torch_conv_layout.py)               25 s
#   6. bench/compare.py: one table, ours vs PyTorch, with the device's name                    10 s
# Worst case: 530 s (9 minutes is the limit: a step added here takes its seconds from another).
# NNUC_GPU_CHECKS_SECONDS overrides the global deadline (default 535).
# NNUC_RESULTS_TARBALL=PATH also packs the results folder into PATH (.tar.gz) at the end, for a
# transport that brings back only a few files.
set -uo pipefail
cd "$(dirname "$0")/../.."
results=${1:-${OUT:-bench/results/gpu-$(date +%F)}}
mkdir -p "$results"
log="$results/gpu_checks.log"
exec > >(tee "$log") 2>&1
start=$SECONDS
deadline=${NNUC_GPU_CHECKS_SECONDS:-535}
summary="$results/gpu_summary.md"
printf '| step | status | seconds |\n|---|---|---|\n' > "$summary"
status=0
echo "== nnuc GPU checks $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi failed"

# Seconds the next step may take: its cap, or what is left before the deadline if that is less.
allowance() {
  local left=$((deadline - (SECONDS - start)))
  if ((left < $1)); then echo "$left"; else echo "$1"; fi
}

# run_step NAME CAP COMMAND...: runs COMMAND under its own timeout and records the outcome. Its own
# lines go to stderr, so that a caller may send COMMAND's output to a file.
run_step() {
  local name=$1 cap=$2
  shift 2
  local seconds begin outcome rc
  seconds=$(allowance "$cap")
  if ((seconds < 5)); then
    echo "== $name: skipped, the run's deadline is reached" >&2
    printf '| %s | skipped (deadline) | 0 |\n' "$name" >> "$summary"
    status=1
    return 1
  fi
  echo "== $name (at most ${seconds} s)" >&2
  begin=$SECONDS
  timeout -k 5 "$seconds" "$@"
  rc=$?
  case $rc in
    0) outcome=ok ;;
    124 | 137) outcome="timeout after ${seconds} s"; status=1 ;;
    *) outcome="failed (exit $rc)"; status=1 ;;
  esac
  printf '| %s | %s | %d |\n' "$name" "$outcome" $((SECONDS - begin)) >> "$summary"
  return $rc
}

[ -d gpu-bundle/bin ] || { echo "gpu-bundle/ missing: run scripts/build_gpu_bundle.sh on the build machine and carry gpu-bundle"; exit 2; }
python=${PYTHON:-python3}
# 1. NVIDIA libraries: prefer PyTorch's pip packages (they match its cuDNN), then the system toolkit.
# Files and links only: tools such as perf keep same-named folders (~/.debug/.../libcudart.so.13/).
libdirs=$(timeout 20 find / -xdev \( -name 'libcudnn.so.9*' -o -name 'libcublas.so.13*' -o -name 'libcudart.so.13*' \) \
  \( -type f -o -type l \) -not -path '/proc/*' 2>/dev/null | xargs -r -n1 dirname | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:${libdirs}${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# 2. GPU tests, one process per suite. The fixed-overhead measurement first (it must be the first
# CUDA work of its process), the large-tensor suite last.
tests=gpu-bundle/bin/nnuc_gpu_tests
suites_dir=$(mktemp -d)
mapfile -t suites < <("$tests" --gtest_list_tests 2>/dev/null | grep -E '^[^ ].*\.$' | sed 's/\.$//' |
  awk '$0 == "CudaOverheadGpu" {print 0, $0; next} $0 == "ConvHugeGpu" {print 2, $0; next} {print 1, $0}' |
  sort -s -k1,1n | cut -d' ' -f2)
echo "== GPU tests: ${#suites[@]} suites"
tests_end=$((SECONDS - start + $(allowance 150)))
index=0
for suite in "${suites[@]}"; do
  index=$((index + 1))
  left=$((tests_end - (SECONDS - start)))
  cap=$((left < 90 ? left : 90))
  if ((cap < 5)); then
    echo "== GPU suite $suite: not run, the tests' 150 s are spent" >&2
    printf '| GPU suite %s | not run (time) | 0 |\n' "$suite" >> "$summary"
    status=1
    continue
  fi
  run_step "GPU suite $suite" "$cap" "$tests" --gtest_filter="$suite.*" \
    --gtest_output=json:"$suites_dir/$(printf '%03d' $index).json"
done
# One gtest JSON for all suites; a suite that timed out or crashed shows as a failed placeholder.
"$python" - "$suites_dir" "$results/gpu_tests.json" "${suites[@]}" <<'EOF' || status=1
import json, os, sys
folder, out, suites = sys.argv[1], sys.argv[2], sys.argv[3:]
merged = {"tests": 0, "failures": 0, "disabled": 0, "errors": 0, "name": "AllTests", "testsuites": []}
for index, suite in enumerate(suites, 1):
    path = os.path.join(folder, "%03d.json" % index)
    try:
        with open(path) as f:
            part = json.load(f)
    except (OSError, ValueError):
        merged["errors"] += 1
        merged["testsuites"].append({"name": suite, "tests": 0, "failures": 1,
                                     "note": "no result: the suite timed out or crashed (gpu_checks.log)"})
        continue
    for key in ("tests", "failures", "disabled", "errors"):
        merged[key] += part.get(key, 0)
    merged["testsuites"].extend(part.get("testsuites", []))
with open(out, "w") as f:
    json.dump(merged, f, indent=1)
print("GPU tests: %d tests, %d failures, %d suites without a result" % (merged["tests"], merged["failures"], merged["errors"]))
EOF
rm -rf "$suites_dir"

# 3. compute-sanitizer: the bundle's copy, else the CUDA toolkit's (PyTorch's wheels have none).
sanitizer=""
for candidate in gpu-bundle/compute-sanitizer/compute-sanitizer "$(command -v compute-sanitizer 2>/dev/null)" \
  /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer \
  /usr/local/cuda-*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer/compute-sanitizer; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then sanitizer=$candidate; break; fi
done
# sanitize TOOL CAP FILTER: one compute-sanitizer run over the tests FILTER selects.
sanitize() {
  local tool=$1 cap=$2 filter=$3 output="$results/sanitizer_$1.txt" status_before=$status
  run_step "compute-sanitizer $tool" "$cap" "$sanitizer" --tool "$tool" --error-exitcode 1 \
    "$tests" --gtest_filter="$filter" > "$output" 2>&1
  tail -n 5 "$output"
  if grep -q -i 'not supported' "$output"; then  # e.g. under gVisor: not nnuc's failure
    echo "== compute-sanitizer $tool: the device or driver is not supported here; treated as skipped"
    sed -i '$ d' "$summary"
    printf '| compute-sanitizer %s | skipped (device not supported) | 0 |\n' "$tool" >> "$summary"
    status=$status_before
  fi
}
if [ -z "$sanitizer" ]; then
  echo "== compute-sanitizer not found (bundle, PATH, /usr/local/cuda*, /opt/nvidia): sanitizer pass skipped"
  printf '| compute-sanitizer | skipped (not found) | 0 |\n' >> "$summary"
else
  echo "== compute-sanitizer: $sanitizer"
  # memcheck: the split convolutions' pointer arithmetic, copies, a tensor outliving its Context,
  # nnuc's own loss and norm kernels.
  sanitize memcheck 65 'CoreGpu.*:AllocatorGpu.ATensorOutlivesItsContext:ConvChunkGpu.Split*:LossGpu.SoftmaxAndArgmaxMatchCpu:InstanceNormGpu.ForwardMatchesCpu'
  # racecheck: the shared-memory reductions of nnuc's own kernels (no cuDNN in these tests).
  sanitize racecheck 40 'InstanceNormGpu.ForwardMatchesCpu:InstanceNormGpu.BackwardMatchesCpu:LossGpu.SoftmaxForwardSumsMatchCpu:OpsGpu.ReductionsMatchCpuAndAreDeterministic'
fi

# 4. Benchmarks: ours (CUDA only) and PyTorch on the same shapes, same machine, same run.
run_step "nnuc kernel benchmarks (CUDA)" 45 gpu-bundle/bin/nnuc_kernel_bench --benchmark_filter='/cuda' \
  --benchmark_min_time=0.05 --benchmark_format=console --benchmark_out="$results/nnuc_kernel_bench.json" \
  --benchmark_out_format=json
run_step "PyTorch baseline" 45 env PYTHONUNBUFFERED=1 "$python" bench/baselines/torch_kernels.py --device cuda \
  --min-time 0.05 --out "$results/torch_kernels.json"
echo "== training step, default 3-D U-Net 128^3 batch 2 bf16: nnuc, then PyTorch (autocast bf16, cudnn.benchmark)"
run_step "nnuc training step" 30 gpu-bundle/bin/nnuc_nn_bench --benchmark_filter='unet_step/cuda' \
  --benchmark_out="$results/nnuc_step.json" --benchmark_out_format=json
run_step "nnuc training iteration (loader + augmentation + step)" 45 gpu-bundle/bin/nnuc_nn_bench \
  --benchmark_filter='train_iteration/cuda' --benchmark_out="$results/nnuc_iteration.json" --benchmark_out_format=json
run_step "PyTorch training step" 35 "$python" bench/baselines/torch_unet_step.py --device cuda --patch 128 128 128 \
  --batch 2 --amp bf16 --channels-last > "$results/torch_step.json"
cat "$results/torch_step.json"
run_step "nnuc memory --measure-cuda" 20 gpu-bundle/bin/nnuc memory --measure-cuda > "$results/nnuc_memory.txt"
cat "$results/nnuc_memory.txt"
grep -h '\[step memory\]' "$log" > "$results/step_memory.txt" || true

# 5. Activation layout.
echo "== activation layout: cuDNN 3-D convolutions in NCDHW vs NDHWC (kernels/README.md)"
run_step "activation layout" 25 "$python" bench/baselines/torch_conv_layout.py --min-time 0.1 \
  --out "$results/conv_layout.json" > "$results/conv_layout.md"
cat "$results/conv_layout.md"

# 6. Table
run_step "comparison table" 10 "$python" bench/compare.py --ours "$results/nnuc_kernel_bench.json" \
  --peer "$results/torch_kernels.json" --out "$results/comparison.md"
echo "== summary ($((SECONDS - start)) s)"
cat "$summary"
echo "== done (status $status); results in $results"
if [ -n "${NNUC_RESULTS_TARBALL:-}" ]; then
  tar -czf "$NNUC_RESULTS_TARBALL" -C "$(dirname "$results")" "$(basename "$results")" && echo "packed into $NNUC_RESULTS_TARBALL"
fi
exit $status
