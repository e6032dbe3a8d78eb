// Benchmarks of the optimizer step and the gradient-clipping path over the parameters of the
// default 3-D U-Net (features 32-64-128-256-320-320, 1 input channel, 3 classes, deep-supervision
// heads): 108 tensors, 31.2 M values. sgd_step, l2_norm, clip_by_total_norm, any_nonfinite.
//
// Napkin math (memory-bound, one pass over the list; bytes = read + written per parameter):
//   sgd_step:           param r+w (8) + momentum r+w (8) + grad (4 f32 / 2 bf16) = 20 / 18 B
//                       -> 624 MB per step with f32 grads: 0.21 ms at 3.0 TB/s (H100 copy), 0.15 ms
//                       at 4.3 TB/s (H200); ~10 FLOP per parameter.
//   l2_norm:            grad read (4 / 2 B) -> 125 MB: 42 us at 3.0 TB/s.
//   clip_by_total_norm: grad r+w (8 / 4 B).
//   any_nonfinite:      grad read (4 / 2 B).
// 108 tensors take 3 multi-tensor launches (36 per launch) plus, for reductions, one final block.
// Names: <op>/<device>/unet3d_params; device = cpu (f32), cuda_f32, cuda_bf16 (the gradients' dtype;
// parameters and momentum are f32). CUDA timings from CUDA events (manual time).
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/reduce.h"
#include "kernels/optim/sgd.h"

namespace nnuc {
namespace {

using bench::context_for;
using bench::dtype_for;
using bench::time_iterations;

// Parameter shapes of the default 3-D PlainConvUNet: per encoder stage two (conv weight
// (F, 3, 3, 3, C_in), bias, norm weight, norm bias); per decoder stage the transposed conv
// ((F_below, 2, 2, 2, F), bias), two conv units and the segmentation head ((K, 1, 1, 1, F), bias).
std::vector<Shape> unet3d_parameter_shapes() {
  const std::int64_t features[] = {32, 64, 128, 256, 320, 320}, classes = 3;
  std::vector<Shape> shapes;
  auto conv_unit = [&](std::int64_t out, std::int64_t in) {
    for (const Shape& shape : {Shape{out, 3, 3, 3, in}, Shape{out}, Shape{out}, Shape{out}}) shapes.push_back(shape);
  };
  std::int64_t previous = 1;
  for (std::int64_t f : features) {
    conv_unit(f, previous);
    conv_unit(f, f);
    previous = f;
  }
  for (int s = 4; s >= 0; --s) {
    const std::int64_t f = features[s];
    shapes.push_back(Shape{features[s + 1], 2, 2, 2, f});
    shapes.push_back(Shape{f});
    conv_unit(f, 2 * f);
    conv_unit(f, f);
    shapes.push_back(Shape{classes, 1, 1, 1, f});
    shapes.push_back(Shape{classes});
  }
  return shapes;
}

double parameter_count() {
  double count = 0;
  for (const Shape& shape : unet3d_parameter_shapes()) count += static_cast<double>(shape.numel());
  return count;
}

std::vector<Tensor> random_list(const Context& ctx, DType dtype, double low, double high) {
  std::vector<Tensor> list;
  for (const Shape& shape : unet3d_parameter_shapes())
    list.push_back(bench::random_tensor(shape, dtype, ctx, low, high));
  return list;
}

void sgd_bench(benchmark::State& state, std::string device) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType grad_dtype = dtype_for(device);
  const std::vector<Tensor> params = random_list(*ctx, DType::f32, -0.1, 0.1);
  const std::vector<Tensor> grads = random_list(*ctx, grad_dtype, -1e-3, 1e-3);
  std::vector<Tensor> buffers = random_list(*ctx, DType::f32, 0, 1);
  for (Tensor& buffer : buffers) fill(*ctx, buffer, 0.0);
  const SgdOptions options;
  time_iterations(state, *ctx, [&] { sgd_step(*ctx, params, grads, buffers, options, false); });
  const double bytes_per_parameter = 16.0 + static_cast<double>(dtype_size(grad_dtype));
  bench::set_rates(state, 10 * parameter_count(), bytes_per_parameter * parameter_count());
}

void l2_norm_bench(benchmark::State& state, std::string device) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const std::vector<Tensor> grads = random_list(*ctx, dtype, -1e-3, 1e-3);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(l2_norm(*ctx, grads)); });
  bench::set_rates(state, 2 * parameter_count(), static_cast<double>(dtype_size(dtype)) * parameter_count());
}

void clip_bench(benchmark::State& state, std::string device) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const std::vector<Tensor> grads = random_list(*ctx, dtype, -1e-3, 1e-3);
  const Tensor norm = l2_norm(*ctx, grads);
  // max_norm above the norm: the coefficient is 1 and the values stay put from one iteration to the next.
  time_iterations(state, *ctx, [&] { clip_by_total_norm(*ctx, grads, norm, 1e6); });
  bench::set_rates(state, parameter_count(), 2.0 * static_cast<double>(dtype_size(dtype)) * parameter_count());
}

void nonfinite_bench(benchmark::State& state, std::string device) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const std::vector<Tensor> grads = random_list(*ctx, dtype, -1e-3, 1e-3);
  time_iterations(state, *ctx, [&] { benchmark::DoNotOptimize(any_nonfinite(*ctx, grads)); });
  bench::set_rates(state, parameter_count(), static_cast<double>(dtype_size(dtype)) * parameter_count());
}

int register_all() {
  for (const char* device : {"cpu", "cuda_f32", "cuda_bf16"}) {
    const std::string suffix = std::string("/") + device + "/unet3d_params";
    for (auto [name, function] :
         {std::pair{"sgd_step", sgd_bench}, std::pair{"l2_norm", l2_norm_bench},
          std::pair{"clip_by_total_norm", clip_bench}, std::pair{"any_nonfinite", nonfinite_bench}})
      benchmark::RegisterBenchmark((name + suffix).c_str(), function, std::string(device))
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace nnuc
