// Benchmarks of kernels/conv: convolution forward, backward data, backward weight, and the transposed
// convolution (decoder upsampling, kernel == stride == 2) on the default U-Net stages.
//
// Napkin math (compute-bound except the smallest stages):
//   conv MAC = Ci · Co · kD kH kW · V_out (V_out = N · Do · Ho · Wo), FLOPs = 2 · MAC; backward data
//   and backward weight do the same MACs as forward. Transposed conv with kernel == stride:
//   MAC = Ci · Co · V_out. Example: s0 (2·128³·32, 3x3x3, 32 -> 32): 57.98 GMAC = 116 GFLOP per pass,
//   0.15 ms at the H100's ~790 TFLOP/s measured bf16 peak (dense); s4 (2·8³·320): 2.83 GMAC.
//   Arithmetic intensity of the 32 -> 32 3x3x3 conv ~430 FLOP/B (bf16): just compute-bound on an H100.
// Peaks: H100 SXM ~990 TFLOP/s bf16 datasheet (~790 measured), f32 (FMA, no TF32) ~67 TFLOP/s;
//   this development machine: 2 AMD EPYC (Zen 3) cores at 2.45 GHz, AVX2 + 2 FMA pipes:
//   2 cores · 2 FMA · 8 lanes · 2 FLOP · 2.45 GHz = 157 GFLOP/s f32 nominal.
//
// Names: <op>/<device>/<shape>, op = conv3d_fwd | conv3d_bwd_data | conv3d_bwd_weight | conv2d_* |
// conv_transpose_fwd | conv_transpose_bwd_data | conv_transpose_bwd_weight; device = cpu (f32),
// cuda_f32 (reference mode) or cuda_bf16 (mixed mode). Shapes (channels-last, batch 2 for 3-D):
//   3-D stages, 3x3x3, padding 1, Ci = Co = C:  s0_128x32 (2,128,128,128,32) ... s5_4x320 (2,4,4,4,320)
//     from bench::stages_3d(). CPU runs s0 and s1 at half the spatial size (one iteration would take
//     several seconds): s0_128x32_reduced_64x64x64 = (2,64,64,64,32), s1_64x64_reduced_32x32x32 =
//     (2,32,32,32,64).
//   down_s0_s1: the stride-2 first conv of stage 1, (2,128,128,128,32) -> (2,64,64,64,64), 3x3x3,
//     stride 2, padding 1 (CPU: (2,64,64,64,32) -> (2,32,32,32,64), "_reduced_64x64x64").
//   aniso_1x3x3: (2,16,128,128,32) -> 32, kernel (1,3,3), padding (0,1,1), all devices.
//   2-D stages (conv2d_*), kernel (1,3,3), padding (0,1,1), Ci = Co = C: 2d_s0_512x32 (12,1,512,512,32)
//     ... 2d_s6_8x512 from bench::stages_2d(); CPU runs them at batch 2 ("_reduced_batch2").
//   conv_transpose up_s<k+1>_s<k>: x = stage k+1 (2, D/2, H/2, W/2, C_{k+1}), stride 2,
//     Co = C_k, y = stage k's shape; CPU reduces up_s1_s0 and up_s2_s1 like s0 and s1 (y at half size).
// CUDA timings come from CUDA events around each iteration after one warm-up call (which chooses and
// caches the cuDNN plan); CPU timings are wall clock.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/kernels/bench_support.h"
#include "kernels/conv/conv.h"

namespace nnuc {
namespace {

enum class Op { forward, backward_data, backward_weight };

struct ConvCase {
  Shape x;  // (N, D, H, W, Ci)
  Shape w;  // (Co, kD, kH, kW, Ci)
  ConvGeometry geometry;
};

struct TransposeCase {
  Shape x;  // (N, D, H, W, Ci)
  Shape w;  // (Ci, 2, 2, 2, Co)
  std::array<int, 3> stride;
};

using bench::context_for;
using bench::dtype_for;
using bench::tensor_bytes;
using bench::time_iterations;

void conv_bench(benchmark::State& state, std::string device, Op op, ConvCase c) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Shape y_shape = conv_output_shape(c.x, c.w, c.geometry);
  const Tensor x = bench::random_tensor(c.x, dtype, *ctx);                    // (N, D, H, W, Ci)
  const Tensor w = bench::random_tensor(c.w, dtype, *ctx, -0.1, 0.1);         // (Co, kD, kH, kW, Ci)
  const Tensor bias = bench::random_tensor(Shape{c.w[0]}, DType::f32, *ctx);  // (Co)
  const Tensor dy = bench::random_tensor(y_shape, dtype, *ctx);               // (N, Do, Ho, Wo, Co)
  time_iterations(state, *ctx, [&] {
    switch (op) {
      case Op::forward: benchmark::DoNotOptimize(conv_forward(*ctx, x, w, bias, c.geometry)); break;
      case Op::backward_data: benchmark::DoNotOptimize(conv_backward_data(*ctx, dy, w, c.geometry, c.x)); break;
      case Op::backward_weight: benchmark::DoNotOptimize(conv_backward_weight(*ctx, x, dy, c.geometry, c.w)); break;
    }
  });
  const double mac = static_cast<double>(c.x[Activation::C]) * static_cast<double>(c.w.numel() / c.w[4]) *
                     static_cast<double>(y_shape.numel() / y_shape[Activation::C]);
  bench::set_rates(state, 2 * mac, 0);
}

void transpose_bench(benchmark::State& state, std::string device, Op op, TransposeCase c) {
  const Context* ctx = context_for(state, device);
  if (ctx == nullptr) return;
  const DType dtype = dtype_for(device);
  const Shape y_shape = conv_transpose_output_shape(c.x, c.w, c.stride);
  const Tensor x = bench::random_tensor(c.x, dtype, *ctx);                    // (N, D, H, W, Ci)
  const Tensor w = bench::random_tensor(c.w, dtype, *ctx, -0.1, 0.1);         // (Ci, 2, 2, 2, Co)
  const Tensor bias = bench::random_tensor(Shape{c.w[4]}, DType::f32, *ctx);  // (Co)
  const Tensor dy = bench::random_tensor(y_shape, dtype, *ctx);               // (N, 2D, 2H, 2W, Co)
  time_iterations(state, *ctx, [&] {
    switch (op) {
      case Op::forward: benchmark::DoNotOptimize(conv_transpose_forward(*ctx, x, w, bias, c.stride)); break;
      case Op::backward_data: benchmark::DoNotOptimize(conv_transpose_backward_data(*ctx, dy, w, c.stride)); break;
      case Op::backward_weight: benchmark::DoNotOptimize(conv_transpose_backward_weight(*ctx, x, dy, c.stride)); break;
    }
  });
  const double mac = static_cast<double>(c.w[0]) * static_cast<double>(c.w[4]) *
                     static_cast<double>(y_shape.numel() / y_shape[Activation::C]);
  bench::set_rates(state, 2 * mac, 0);
}

const char* op_name(Op op) {
  switch (op) {
    case Op::forward: return "fwd";
    case Op::backward_data: return "bwd_data";
    case Op::backward_weight: return "bwd_weight";
  }
  return "?";
}

Shape halved(const Shape& shape) { return Shape{shape[0], shape[1] / 2, shape[2] / 2, shape[3] / 2, shape[4]}; }

std::string reduced_suffix(const Shape& shape) {
  return "_reduced_" + std::to_string(shape[1]) + "x" + std::to_string(shape[2]) + "x" + std::to_string(shape[3]);
}

ConvCase same_conv(const Shape& x, std::int64_t co, std::array<int, 3> kernel, std::array<int, 3> stride) {
  return ConvCase{x, Shape{co, kernel[0], kernel[1], kernel[2], x[4]}, same_padding_geometry(kernel, stride)};
}

void add_conv(const std::string& family, const std::string& device, const std::string& name, const ConvCase& c) {
  for (Op op : {Op::forward, Op::backward_data, Op::backward_weight}) {
    const std::string full = family + "_" + op_name(op) + "/" + device + "/" + name;
    benchmark::RegisterBenchmark(full.c_str(), conv_bench, device, op, c)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

void add_transpose(const std::string& device, const std::string& name, const TransposeCase& c) {
  for (Op op : {Op::forward, Op::backward_data, Op::backward_weight}) {
    const std::string full = std::string("conv_transpose_") + op_name(op) + "/" + device + "/" + name;
    benchmark::RegisterBenchmark(full.c_str(), transpose_bench, device, op, c)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

int register_all() {
  const std::vector<bench::StageShape> stages = bench::stages_3d();
  const std::vector<std::string> devices = {"cpu", "cuda_f32", "cuda_bf16"};
  for (const std::string& device : devices) {
    const bool cpu = device == "cpu";
    // 3-D stages: 3x3x3, Ci = Co. CPU halves s0 and s1.
    for (std::size_t index = 0; index < stages.size(); ++index) {
      const bench::StageShape& stage = stages[index];
      const bool reduce = cpu && index < 2;
      const Shape x = reduce ? halved(stage.shape) : stage.shape;
      add_conv("conv3d", device, std::string(stage.name) + (reduce ? reduced_suffix(x) : ""),
               same_conv(x, x[4], {3, 3, 3}, {1, 1, 1}));
    }
    // The stride-2 conv entering stage 1.
    {
      const Shape x = cpu ? halved(stages[0].shape) : stages[0].shape;
      add_conv("conv3d", device, std::string("down_s0_s1") + (cpu ? reduced_suffix(x) : ""),
               same_conv(x, stages[1].shape[4], {3, 3, 3}, {2, 2, 2}));
    }
    // Anisotropic first stage: 1x3x3 kernel.
    add_conv("conv3d", device, "aniso_1x3x3_16x128x128x32",
             same_conv(Shape{2, 16, 128, 128, 32}, 32, {1, 3, 3}, {1, 1, 1}));
    // 2-D stages: (1,3,3) kernel, D = 1; CPU at batch 2.
    for (const bench::StageShape& stage : bench::stages_2d()) {
      Shape x = stage.shape;
      if (cpu) x[0] = 2;
      add_conv("conv2d", device, std::string(stage.name) + (cpu ? "_reduced_batch2" : ""),
               same_conv(x, x[4], {1, 3, 3}, {1, 1, 1}));
    }
    // Decoder upsampling: stage k+1 -> stage k, stride 2.
    for (std::size_t index = 0; index + 1 < stages.size(); ++index) {
      const bool reduce = cpu && index < 2;
      const Shape y = reduce ? halved(stages[index].shape) : stages[index].shape;
      const Shape x{y[0], y[1] / 2, y[2] / 2, y[3] / 2, stages[index + 1].shape[4]};
      const std::string name =
          "up_s" + std::to_string(index + 1) + "_s" + std::to_string(index) + (reduce ? reduced_suffix(y) : "");
      add_transpose(device, name, TransposeCase{x, Shape{x[4], 2, 2, 2, y[4]}, {2, 2, 2}});
    }
  }
  return 0;
}

[[maybe_unused]] const int registered = register_all();

}  // namespace
}  // namespace nnuc
