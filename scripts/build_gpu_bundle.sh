#!/usr/bin/env bash
# Builds the GPU test and benchmark programs here (CUDA, sm_90) and packs them with the
# third-party shared libraries they need into gpu-bundle/ (git-ignored), so that a GPU machine
# that has the NVIDIA driver, CUDA 13 and PyTorch (whose pip packages hold cuDNN 9 and cuBLAS 13)
# but none of our Debian dependencies can run them: tests/gpu/run_gpu_checks.sh uses the bundle.
# compute-sanitizer (CUDA toolkit, not in PyTorch's wheels) goes into gpu-bundle/compute-sanitizer/
# when this machine's toolkit has it and NNUC_BUNDLE_SANITIZER=1 (it adds tens of MB); otherwise the
# check script looks for the GPU machine's own toolkit copy.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-gpu
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DNNUC_CUDA=ON -DNNUC_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${NNUC_CUDA_ARCHITECTURES:-90}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target nnuc_gpu_tests nnuc_tests nnuc_kernel_bench nnuc_nn_bench nnuc
rm -rf gpu-bundle && mkdir -p gpu-bundle/bin gpu-bundle/lib
for program in tests/nnuc_gpu_tests tests/nnuc_tests bench/kernels/nnuc_kernel_bench bench/nn/nnuc_nn_bench tools/nnuc; do
  [ -f "$build/$program" ] || continue
  cp "$build/$program" gpu-bundle/bin/
  strip --strip-debug "gpu-bundle/bin/$(basename "$program")"
done
# Shared libraries that a bare GPU machine lacks: everything but glibc, the driver, the CUDA
# toolkit's and PyTorch's NVIDIA libraries (found there at run time) and the C++ runtime (newer there).
for binary in gpu-bundle/bin/*; do
  ldd "$binary" | awk '/=> \// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcudnn[^/]*|libcublas[^/]*|libcublasLt)\.so' |
  while read -r library; do cp -L "$library" gpu-bundle/lib/; done
if [ "${NNUC_BUNDLE_SANITIZER:-0}" = 1 ]; then
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -n "$sanitizer" ]; then  # bin/compute-sanitizer links into the toolkit's compute-sanitizer/ folder
    folder=$(dirname "$(readlink -f "$sanitizer")")
    if [ "$(basename "$folder")" = compute-sanitizer ]; then
      cp -rL "$folder" gpu-bundle/compute-sanitizer
    else
      mkdir -p gpu-bundle/compute-sanitizer && cp -L "$sanitizer" gpu-bundle/compute-sanitizer/
    fi
  else
    echo "compute-sanitizer not installed here: not bundled (the check script looks on the GPU machine)"
  fi
fi
du -sh gpu-bundle
ls gpu-bundle/bin gpu-bundle/lib
