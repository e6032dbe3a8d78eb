// Benchmarks of kernels/layout: concat_channels / split_channels (decoder skip concatenation and its
// backward), flip (test-time mirroring of all spatial axes), resize_nearest_exact (deep-supervision
// label target, halving each axis of an i16 label map) and avg_pool forward / backward (kernel 2 per
// axis; (1, 2, 2) for the 2-D stages).
//
// Napkin math (data movement; bytes = read + written; F = the stage's channels):
//   concat: read upsampled (F) and skip (F), write 2F:  4 * stage bytes;   split: the same.
//   flip:   read + write:                               2 * stage bytes.
//   resize_nearest_exact, label map (N, D, H, W, 1) i16 halved per axis: only every other (d, h)
//           row is touched and a touched row is fetched whole (32-byte sectors), so it reads
//           in / 4 (3-D) or in / 2 (2-D) and writes out = in / 8 (3-D) or in / 4 (2-D).
//   avg_pool_fwd: read in, write in / 8 (3-D) or in / 4 (2-D); avg_pool_bwd: the reverse.
// Peaks: H100 SXM ~3.0 TB/s measured copy; H200 ~4.3 TB/s. E.g. concat at s0 (2 * 128^3 * 32) in
// bf16: 1.07 GB -> 0.36 ms at 3.0 TB/s.
//
// Names and CPU stage reductions as in elementwise_bench.cpp (resize runs as "cuda": labels are i16).
#include <benchmark/benchmark.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.h"
#include "kernels/layout/avg_pool.h"
#include "kernels/layout/concat.h"
#include "kernels/layout/flip.h"
#include "kernels/layout/resize_nearest.h"

// Defined in elementwise_bench.cpp.
namespace nnuc::ops_bench {
void register_stages(const std::string& op, void (*function)(benchmark::State&, std::string, Shape),
                     const std::vector<std::string>& cuda_devices);
}  // namespace nnuc::ops_bench

namespace nnuc {
namespace {

using bench::context_for;
using bench::dtype_for;
using bench::tensor_bytes;
using bench::time_iterations;

// The pooling / downsampling factor per spatial axis: 2, except along D of a 2-D stage.
std::array<std::int64_t, 3> halving(const Shape& shape) { return {shape[Activation::D] > 1 ? 2 : 1, 2, 2}; }

void concat_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Tensor upsampled = bench::random_tensor(shape, dtype, *ctx), skip = bench::random_tensor(shape, dtype, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(concat_channels(*ctx, upsampled, skip)); });
  bench::set_rates(state, 0, 4 * tensor_bytes(shape, dtype));
}

void split_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  Shape doubled = shape;
  doubled[Activation::C] *= 2;
  const Tensor gradient = bench::random_tensor(doubled, dtype, *ctx);  // (N, D, H, W, 2F)
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(split_channels(*ctx, gradient, shape[Activation::C])); });
  bench::set_rates(state, 0, 4 * tensor_bytes(shape, dtype));
}

void flip_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Tensor x = bench::random_tensor(shape, dtype, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(flip(*ctx, x, kFlipD | kFlipH | kFlipW)); });
  bench::set_rates(state, 0, 2 * tensor_bytes(shape, dtype));
}

void resize_bench(benchmark::State& state, std::string device, Shape stage) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const Shape shape{stage[0], stage[1], stage[2], stage[3], 1};  // the label map at this stage's size
  const std::array<std::int64_t, 3> factor = halving(shape);
  const std::array<std::int64_t, 3> out{shape[1] / factor[0], shape[2] / factor[1], shape[3] / factor[2]};
  const Tensor labels = bench::random_labels(shape, 3, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(resize_nearest_exact(*ctx, labels, out)); });
  const double in_bytes = tensor_bytes(shape, DType::i16);
  bench::set_rates(state, 0,
                   in_bytes / static_cast<double>(factor[0] * factor[1]) +
                       in_bytes / static_cast<double>(factor[0] * factor[1] * factor[2]));
}

void avg_pool_forward_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const std::array<std::int64_t, 3> kernel = halving(shape);
  const Tensor x = bench::random_tensor(shape, dtype, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(avg_pool_forward(*ctx, x, kernel)); });
  const double in_bytes = tensor_bytes(shape, dtype);
  bench::set_rates(state, static_cast<double>(shape.numel()),
                   in_bytes + in_bytes / static_cast<double>(kernel[0] * kernel[1] * kernel[2]));
}

void avg_pool_backward_bench(benchmark::State& state, std::string device, Shape shape) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const std::array<std::int64_t, 3> kernel = halving(shape);
  const Tensor dy = bench::random_tensor(avg_pool_output_shape(shape, kernel), dtype, *ctx);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(avg_pool_backward(*ctx, dy, shape, kernel)); });
  const double in_bytes = tensor_bytes(shape, dtype);
  bench::set_rates(state, static_cast<double>(shape.numel()),
                   in_bytes + in_bytes / static_cast<double>(kernel[0] * kernel[1] * kernel[2]));
}

int register_all() {
  const std::vector<std::string> floats = {"cuda_f32", "cuda_bf16"};
  ops_bench::register_stages("concat_channels", concat_bench, floats);
  ops_bench::register_stages("split_channels", split_bench, floats);
  ops_bench::register_stages("flip", flip_bench, floats);
  ops_bench::register_stages("resize_nearest_exact_labels", resize_bench, {"cuda"});
  ops_bench::register_stages("avg_pool_fwd", avg_pool_forward_bench, floats);
  ops_bench::register_stages("avg_pool_bwd", avg_pool_backward_bench, floats);
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace nnuc
