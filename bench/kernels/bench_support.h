// Helpers for nnuc's kernel benchmarks.
//
// Every benchmark states its napkin math (FLOPs or bytes moved) and reports GFLOP/s or GB/s as a
// counter, beside the device's peak from shared/spec/performance.md:
//   H100 SXM: ~790 TFLOP/s dense bf16 measured, ~3.0 TB/s measured copy bandwidth.
//   H200:     same compute, ~4.3 TB/s measured copy bandwidth.
//   This development machine (2 cores, AVX2 FMA): see bench/results/ for the measured figures.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::bench {

// The CUDA context benchmarks run on, or nullptr when no device is present.
Context* gpu();
// Waits for the device so that a timed iteration includes the work it queued.
void sync(const Context& ctx);
// A tensor on ctx's device holding uniform random values in [low, high) (floating dtypes; bf16 on CUDA).
Tensor random_tensor(const Shape& shape, DType dtype, const Context& ctx, double low = -1, double high = 1);
// Random integer labels in [0, classes) as i16 on ctx's device.
Tensor random_labels(const Shape& shape, int classes, const Context& ctx);

// The context for a device name of the kernel benchmarks ("cpu", "cuda_f32", "cuda_bf16"), or nullptr
// after SkipWithError when no CUDA device is present.
const Context* context_for(benchmark::State& state, const std::string& device);
// The activation dtype of a device name: bf16 for "cuda_bf16", f32 otherwise.
DType dtype_for(const std::string& device);
// Bytes of a tensor of this shape and dtype (for the bytes/s counters).
double tensor_bytes(const Shape& shape, DType dtype);
// Times each iteration of `work` on ctx after one untimed warm-up call (cuDNN plan choice, pool
// growth): CUDA events on ctx's stream, or the wall clock on the CPU. Benchmarks using it are
// registered with UseManualTime().
void time_iterations(benchmark::State& state, const Context& ctx, const std::function<void()>& work);

// Sets the standard counters: FLOP/s (when flops > 0) and bytes/s (when bytes > 0) per iteration.
void set_rates(benchmark::State& state, double flops_per_iteration, double bytes_per_iteration);

// Channels-last activation shapes (N, D, H, W, C) of the default 3-D U-Net stages at batch 2.
struct StageShape {
  const char* name;
  Shape shape;
};
std::vector<StageShape> stages_3d();
// The default 2-D stage set at batch 12 (D = 1).
std::vector<StageShape> stages_2d();

}  // namespace nnuc::bench

// Skip a GPU benchmark where no device is present.
#define NNUC_BENCH_REQUIRE_GPU(state)          \
  do {                                         \
    if (::nnuc::bench::gpu() == nullptr) {     \
      (state).SkipWithError("no CUDA device"); \
      return;                                  \
    }                                          \
  } while (0)
