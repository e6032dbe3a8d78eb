// Benchmarks of kernels/norm: instance norm + leaky ReLU forward and backward, leaky ReLU alone, and the
// device-to-device copy of the same bytes on CUDA (the bandwidth the fused op is measured against).
//
// Napkin math (both ops are memory-bound; the (N, C) statistics and (C) parameters are negligible):
//   instance_norm_lrelu_fwd: bytes = 3 · numel · sizeof(T)  (read x for the statistics, read x again
//                            to apply, write y); ~10 FLOP per value.
//   instance_norm_lrelu_bwd: bytes = 5 · numel · sizeof(T)  (read dy and x for the reduction, read
//                            them again to apply, write dx); ~20 FLOP per value.
//   leaky_relu_fwd: 2 · numel · sizeof(T); leaky_relu_bwd: 3 · numel · sizeof(T).
//   copy_bandwidth: cudaMemcpyAsync device-to-device of one activation: 2 · numel · sizeof(T)
//                   (read + write), the practical peak for a streaming kernel.
// Peaks: H100 SXM ~3.35 TB/s HBM3, ~3.0 TB/s measured copy; H200 ~4.8 TB/s, ~4.3 TB/s measured copy.
// Target: the fused op at >= 70 % of copy bandwidth, e.g. s0 (2·128³·32) in bf16: 268 MB per tensor,
// forward 805 MB -> 0.27 ms at 3.0 TB/s (0.38 ms at 70 %); backward 1.34 GB -> 0.45 ms (0.64 ms at 70 %).
// This development machine (2 shared cores): a few GB/s; see bench/results/.
//
// Names: <op>/<device>/<stage>, device = cpu (f32), cuda_f32 or cuda_bf16; stages from
// bench::stages_3d() (batch 2) and bench::stages_2d() (batch 12). CPU runs use smaller spatial sizes
// where a stage has more than 2^24 values (s0 and s1 of 3-D; 2d_s0 to 2d_s2): the spatial axes are
// halved until it fits, and the name says so, e.g. "instance_norm_lrelu_fwd/cpu/s0_128x32_reduced_64x64x64".
// CUDA timings come from CUDA events around each iteration (manual time), so host launch overhead
// is not counted except where it starves the GPU.
#include <benchmark/benchmark.h>

#include <string>
#include <utility>
#include <vector>

#include "bench/kernels/bench_support.h"
#include "kernels/norm/instance_norm.h"
#include "kernels/norm/leaky_relu.h"

#ifdef NNUC_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/core/cuda_check.h"
#endif

namespace nnuc {
namespace {

constexpr std::int64_t kCpuMaxValues = std::int64_t{1} << 24;

// A CPU-sized version of a stage shape: spatial axes halved until the tensor holds <= 2^24 values.
Shape cpu_shape(const Shape& stage) {
  Shape shape = stage;
  while (shape.numel() > kCpuMaxValues) {
    for (int axis : {Activation::D, Activation::H, Activation::W})
      if (shape[axis] > 1) shape[axis] /= 2;
  }
  return shape;
}

std::string cpu_stage_name(const bench::StageShape& stage) {
  const Shape shape = cpu_shape(stage.shape);
  if (shape == stage.shape) return stage.name;
  return std::string(stage.name) + "_reduced_" + std::to_string(shape[Activation::D]) + "x" +
         std::to_string(shape[Activation::H]) + "x" + std::to_string(shape[Activation::W]);
}

using bench::context_for;
using bench::dtype_for;
using bench::tensor_bytes;
using bench::time_iterations;

void instance_norm_forward(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Shape per_channel{shape[Activation::C]};
  const Tensor x = bench::random_tensor(shape, dtype, *ctx, -2, 3);  // (N, D, H, W, C)
  const Tensor gamma = bench::random_tensor(per_channel, DType::f32, *ctx, 0.5, 1.5);
  const Tensor beta = bench::random_tensor(per_channel, DType::f32, *ctx, -0.5, 0.5);
  time_iterations(state, *ctx, [&] {
    InstanceNormStats stats;
    benchmark::DoNotOptimize(
        instance_norm_leaky_relu_forward(*ctx, x, gamma, beta, kInstanceNormEps, kLeakyReluSlope, &stats));
  });
  bench::set_rates(state, 10.0 * static_cast<double>(shape.numel()), 3 * tensor_bytes(shape, dtype));
}

void instance_norm_backward(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Shape per_channel{shape[Activation::C]};
  const Tensor x = bench::random_tensor(shape, dtype, *ctx, -2, 3);  // (N, D, H, W, C)
  const Tensor dy = bench::random_tensor(shape, dtype, *ctx);        // (N, D, H, W, C)
  const Tensor gamma = bench::random_tensor(per_channel, DType::f32, *ctx, 0.5, 1.5);
  const Tensor beta = bench::random_tensor(per_channel, DType::f32, *ctx, -0.5, 0.5);
  InstanceNormStats stats;
  instance_norm_leaky_relu_forward(*ctx, x, gamma, beta, kInstanceNormEps, kLeakyReluSlope, &stats);
  time_iterations(state, *ctx, [&] {
    benchmark::DoNotOptimize(instance_norm_leaky_relu_backward(*ctx, dy, x, gamma, beta, stats, kLeakyReluSlope));
  });
  bench::set_rates(state, 20.0 * static_cast<double>(shape.numel()), 5 * tensor_bytes(shape, dtype));
}

void leaky_relu(benchmark::State& state, std::string device, Shape shape, bool backward) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Tensor x = bench::random_tensor(shape, dtype, *ctx);   // (N, D, H, W, C)
  const Tensor dy = bench::random_tensor(shape, dtype, *ctx);  // (N, D, H, W, C)
  time_iterations(state, *ctx, [&] {
    if (backward) {
      benchmark::DoNotOptimize(leaky_relu_backward(*ctx, dy, x, kLeakyReluSlope));
    } else {
      benchmark::DoNotOptimize(leaky_relu_forward(*ctx, x, kLeakyReluSlope));
    }
  });
  bench::set_rates(state, static_cast<double>(shape.numel()), (backward ? 3 : 2) * tensor_bytes(shape, dtype));
}

void leaky_relu_forward_bench(benchmark::State& state, std::string device, Shape shape) {
  leaky_relu(state, std::move(device), std::move(shape), false);
}

void leaky_relu_backward_bench(benchmark::State& state, std::string device, Shape shape) {
  leaky_relu(state, std::move(device), std::move(shape), true);
}

void copy_bandwidth(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
#ifdef NNUC_WITH_CUDA
  const DType dtype = dtype_for(device);
  const Tensor source = bench::random_tensor(shape, dtype, *ctx);
  const Tensor target = Tensor::empty(shape, dtype, *ctx);
  time_iterations(state, *ctx, [&] {
    CUDA_CHECK(cudaMemcpyAsync(target.raw(), source.raw(), source.bytes(), cudaMemcpyDeviceToDevice,
                               static_cast<cudaStream_t>(ctx->stream())));
  });
  bench::set_rates(state, 0, 2 * tensor_bytes(shape, dtype));
#else
  (void)shape;
  state.SkipWithError("nnuc was built without CUDA");
#endif
}

void add(const std::string& name, void (*function)(benchmark::State&, std::string, Shape), const std::string& device,
         const Shape& shape) {
  benchmark::RegisterBenchmark(name.c_str(), function, device, shape)->UseManualTime()->Unit(benchmark::kMillisecond);
}

int register_all() {
  std::vector<bench::StageShape> stages = bench::stages_3d();
  for (const bench::StageShape& stage : bench::stages_2d()) stages.push_back(stage);
  for (const bench::StageShape& stage : stages) {
    const std::string cpu_name = cpu_stage_name(stage);
    const Shape small = cpu_shape(stage.shape);
    add("instance_norm_lrelu_fwd/cpu/" + cpu_name, instance_norm_forward, "cpu", small);
    add("instance_norm_lrelu_bwd/cpu/" + cpu_name, instance_norm_backward, "cpu", small);
    for (const char* device : {"cuda_f32", "cuda_bf16"}) {
      const std::string suffix = std::string("/") + device + "/" + stage.name;
      add("instance_norm_lrelu_fwd" + suffix, instance_norm_forward, device, stage.shape);
      add("instance_norm_lrelu_bwd" + suffix, instance_norm_backward, device, stage.shape);
      add("copy_bandwidth" + suffix, copy_bandwidth, device, stage.shape);
    }
  }
  // Leaky ReLU alone (ResEnc block outputs): 3-D stages, CPU f32 and CUDA bf16.
  for (const bench::StageShape& stage : bench::stages_3d()) {
    for (bool backward : {false, true}) {
      const std::string op = backward ? "leaky_relu_bwd" : "leaky_relu_fwd";
      const auto run = backward ? leaky_relu_backward_bench : leaky_relu_forward_bench;
      add(op + "/cpu/" + cpu_stage_name(stage), run, "cpu", cpu_shape(stage.shape));
      add(op + "/cuda_bf16/" + stage.name, run, "cuda_bf16", stage.shape);
    }
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace nnuc
