#!/usr/bin/env bash
# Every GPU check of nnuc in one run, for an H100/H200 machine that has the NVIDIA driver, nvcc,
# CMake and PyTorch but no package registry and none of nnuc's Debian dependencies.
#
#   tests/gpu/run_gpu_checks.sh [RESULTS_DIR]     (default: $OUT if set, else bench/results/gpu-<date>)
#
# Uses gpu-bundle/ (made on the development machine by scripts/build_gpu_bundle.sh and carried
# over). Steps, each bounded in time so the whole run stays well inside 8 minutes:
#   1. locate cuDNN 9 / cuBLAS 13 / cudart (system CUDA or PyTorch's nvidia pip packages)
#   2. ctest-equivalent: nnuc_gpu_tests (label gpu), then the CPU suite's quick memory tests
#   3. nnuc_kernel_bench (CUDA benchmarks) and bench/baselines/torch_kernels.py on the same shapes;
#      one training step of the default 3-D U-Net (128^3, batch 2, bf16) in nnuc and in PyTorch;
#      `nnuc memory` for that step (compare with StepMemoryGpu's measured peak in the test log)
#   4. bench/compare.py: one table, ours vs PyTorch, with the device's name
#      and the activation-layout measurement (bench/baselines/torch_conv_layout.py)
# Worst case with every timeout reached: 120 + 150 + 120 + 60 + 60 + 60 s = 9.5 min; typical well under.
set -uo pipefail
cd "$(dirname "$0")/../.."
results=${1:-${OUT:-bench/results/gpu-$(date +%F)}}
mkdir -p "$results"
log="$results/gpu_checks.log"
exec > >(tee "$log") 2>&1
echo "== nnuc GPU checks $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi failed"

[ -d gpu-bundle/bin ] || { echo "gpu-bundle/ missing: run scripts/build_gpu_bundle.sh on the build machine and carry gpu-bundle"; exit 2; }
python=${PYTHON:-python3}
# 1. NVIDIA libraries: prefer PyTorch's pip packages (they match its cuDNN), then the system toolkit.
# Files and links only: tools such as perf keep same-named folders (~/.debug/.../libcudart.so.13/).
libdirs=$(find / -xdev \( -name 'libcudnn.so.9*' -o -name 'libcublas.so.13*' -o -name 'libcudart.so.13*' \) \
  \( -type f -o -type l \) -not -path '/proc/*' 2>/dev/null | xargs -r -n1 dirname | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:${libdirs}${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
status=0

# 2. GPU tests
echo "== GPU tests"
timeout 120 gpu-bundle/bin/nnuc_gpu_tests --gtest_output=json:"$results/gpu_tests.json" || status=1

# 3. Benchmarks: ours (CUDA only) and PyTorch on the same shapes, same machine, same run.
echo "== nnuc kernel benchmarks (CUDA)"
timeout 150 gpu-bundle/bin/nnuc_kernel_bench --benchmark_filter='/cuda' --benchmark_min_time=0.05 \
  --benchmark_format=console --benchmark_out="$results/nnuc_kernel_bench.json" --benchmark_out_format=json || status=1
echo "== PyTorch baseline"
PYTHONUNBUFFERED=1 timeout 120 "$python" bench/baselines/torch_kernels.py --device cuda --min-time 0.05 \
  --out "$results/torch_kernels.json" || status=1
echo "== training step, default 3-D U-Net 128^3 batch 2 bf16: nnuc, then PyTorch (autocast bf16, cudnn.benchmark)"
timeout 60 gpu-bundle/bin/nnuc_nn_bench --benchmark_filter='unet_step/cuda' --benchmark_out="$results/nnuc_step.json" \
  --benchmark_out_format=json || status=1
timeout 60 "$python" bench/baselines/torch_unet_step.py --device cuda --patch 128 128 128 --batch 2 --amp bf16 \
  --channels-last | tee "$results/torch_step.json" || status=1
gpu-bundle/bin/nnuc memory | tee "$results/nnuc_memory.txt" || status=1
echo "== activation layout: cuDNN 3-D convolutions in NCDHW vs NDHWC (kernels/README.md)"
timeout 60 "$python" bench/baselines/torch_conv_layout.py --min-time 0.1 --out "$results/conv_layout.json" \
  | tee "$results/conv_layout.md" || status=1

# 4. Table
echo "== comparison"
"$python" bench/compare.py --ours "$results/nnuc_kernel_bench.json" --peer "$results/torch_kernels.json" \
  --out "$results/comparison.md" || status=1
echo "== done (status $status); results in $results"
exit $status
