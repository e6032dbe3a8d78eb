// Benchmarks of kernels/elementwise: add, axpy (gradient accumulation, f32 += f32 or bf16), cast
// f32 -> bf16, sum; plus the timing helpers that layout_bench.cpp and optim_bench.cpp share.
//
// Napkin math (all memory-bound, one pass; bytes = read + written):
//   add:  2 reads + 1 write:        numel * 3 * sizeof(T)
//   axpy: read y, read x, write y:  numel * (2 * 4 + sizeof(x))    (y is f32)
//   cast: read f32, write bf16:     numel * (4 + 2)
//   sum:  read x:                   numel * sizeof(T)
// Peaks: H100 SXM ~3.35 TB/s HBM3 (~3.0 TB/s measured copy); H200 ~4.8 TB/s (~4.3 TB/s measured).
// E.g. add on s0 (2 * 128^3 * 32 = 134 M values) in bf16: 805 MB -> 0.27 ms at 3.0 TB/s.
// This development machine (2 shared cores): a few GB/s; see bench/results/.
//
// Names: <op>/<device>/<stage>; device = cpu (f32), cuda_f32, cuda_bf16 (for axpy: the dtype of x,
// y is f32; cast runs as "cuda"). Stages: bench::stages_3d() (batch 2) and bench::stages_2d()
// (batch 12). CPU runs halve the spatial axes of stages above 2^24 values (the name says
// "_reduced_DxHxW") so a run takes seconds, not minutes. CUDA timings come from CUDA events around each iteration
// (manual time).
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/reduce.h"

// Shared with layout_bench.cpp and optim_bench.cpp (declared there).
namespace nnuc::ops_bench {

constexpr std::int64_t kCpuMaxValues = std::int64_t{1} << 24;

// A CPU-sized version of a stage shape: spatial axes halved until it holds <= 2^24 values.
Shape cpu_shape(const Shape& stage) {
  Shape shape = stage;
  while (shape.numel() > kCpuMaxValues)
    for (int axis : {Activation::D, Activation::H, Activation::W})
      if (shape[axis] > 1) shape[axis] /= 2;
  return shape;
}

// "s0_128x32" or "s0_128x32_reduced_64x64x64".
std::string cpu_stage_name(const bench::StageShape& stage) {
  const Shape shape = cpu_shape(stage.shape);
  if (shape == stage.shape) return stage.name;
  return std::string(stage.name) + "_reduced_" + std::to_string(shape[Activation::D]) + "x" +
         std::to_string(shape[Activation::H]) + "x" + std::to_string(shape[Activation::W]);
}

// The 3-D stages followed by the 2-D ones.
std::vector<bench::StageShape> all_stages() {
  std::vector<bench::StageShape> stages = bench::stages_3d();
  for (const bench::StageShape& stage : bench::stages_2d()) stages.push_back(stage);
  return stages;
}

// Registers one benchmark with manual timing in milliseconds.
void register_bench(const std::string& name, void (*function)(benchmark::State&, std::string, Shape),
                    const std::string& device, const Shape& shape) {
  benchmark::RegisterBenchmark(name.c_str(), function, device, shape)->UseManualTime()->Unit(benchmark::kMillisecond);
}

// Registers `function` as <op>/cpu/<reduced stage> and <op>/<device>/<stage> for each CUDA device.
void register_stages(const std::string& op, void (*function)(benchmark::State&, std::string, Shape),
                     const std::vector<std::string>& cuda_devices) {
  for (const bench::StageShape& stage : all_stages()) {
    register_bench(op + "/cpu/" + cpu_stage_name(stage), function, "cpu", cpu_shape(stage.shape));
    for (const std::string& device : cuda_devices)
      register_bench(op + "/" + device + "/" + stage.name, function, device, stage.shape);
  }
}

}  // namespace nnuc::ops_bench

namespace nnuc {
namespace {

using bench::context_for;
using bench::dtype_for;
using bench::tensor_bytes;
using bench::time_iterations;

void add_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Tensor a = bench::random_tensor(shape, dtype, *ctx), b = bench::random_tensor(shape, dtype, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(add(*ctx, a, b)); });
  bench::set_rates(state, static_cast<double>(shape.numel()), 3 * tensor_bytes(shape, dtype));
}

void axpy_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType x_dtype = dtype_for(device);
  Tensor y = bench::random_tensor(shape, DType::f32, *ctx);
  const Tensor x = bench::random_tensor(shape, x_dtype, *ctx);
  time_iterations(state, *ctx, [&] { axpy(*ctx, y, 1e-3, x); });
  bench::set_rates(state, 2.0 * static_cast<double>(shape.numel()),
                   2 * tensor_bytes(shape, DType::f32) + tensor_bytes(shape, x_dtype));
}

void cast_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const Tensor x = bench::random_tensor(shape, DType::f32, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(cast(*ctx, x, DType::bf16)); });
  bench::set_rates(state, 0, tensor_bytes(shape, DType::f32) + tensor_bytes(shape, DType::bf16));
}

void sum_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Tensor x = bench::random_tensor(shape, dtype, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(sum(*ctx, x)); });
  bench::set_rates(state, static_cast<double>(shape.numel()), tensor_bytes(shape, dtype));
}

int register_all() {
  ops_bench::register_stages("add", add_bench, {"cuda_f32", "cuda_bf16"});
  ops_bench::register_stages("axpy", axpy_bench, {"cuda_f32", "cuda_bf16"});
  ops_bench::register_stages("cast_f32_to_bf16", cast_bench, {"cuda"});
  ops_bench::register_stages("sum", sum_bench, {"cuda_f32", "cuda_bf16"});
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace nnuc
