// Benchmarks of kernels/loss: one training step's loss kernels on the full-resolution logits, i.e. the
// fused forward (dice_ce_forward: CE sum, count, I/P/G) followed by the fused backward (dice_ce_backward)
// — and the same for the region variant (region_loss_forward + region_loss_backward).
//
// Napkin math, K = 3 classes, V voxels in all, s = sizeof(logits):
//   forward reads logits (V·K·s) and labels (2 B/voxel); backward reads both again and writes the
//   gradient (V·K·s): bytes = 3·V·K·s + 4·V. Region: targets are u8 per region: 3·V·R·s + 2·V·R.
//   ~25 FLOP per value (max, exp, divide, sums; the backward recomputes softmax). Memory-bound.
//   3-D (2, 128, 128, 128, 3): V = 4.19 M; f32 168 MB, bf16 117 MB per step
//     -> H100 (~3.0 TB/s measured copy): 56 µs f32 / 39 µs bf16 at peak; H200 (~4.3 TB/s): 39 / 27 µs.
//   2-D (12, 1, 512, 512, 3): V = 3.15 M; f32 126 MB, bf16 88 MB per step.
//   This development machine (2 shared cores): a few GB/s.
// CPU runs use (2, 64, 64, 64, 3) for 3-D (1/8 of the voxels, to keep a run short on a shared 2-core
// machine; the name says so) and the full 2-D shape. Timing: wall clock around a step that ends with
// a device sync (CUDA), so per-launch host overhead (4 launches) is included.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.h"
#include "kernels/loss/loss.h"
#include "kernels/loss/region_loss.h"

namespace nnuc {
namespace {

enum class Where { cpu, cuda };
enum class Variant { softmax, region };

const Shape kShape3d{2, 128, 128, 128, 3};
const Shape kShape3dCpu{2, 64, 64, 64, 3};
const Shape kShape2d{12, 1, 512, 512, 3};

double step_bytes(const Shape& shape, DType dtype, Variant variant) {
  const double voxels = static_cast<double>(shape.numel() / shape[4]);
  const double values = static_cast<double>(shape.numel());
  const double logits = values * static_cast<double>(dtype_size(dtype));
  return variant == Variant::softmax ? 3 * logits + 4 * voxels : 3 * logits + 2 * values;
}

// Multi-hot region targets: independent 0/1 per region, as u8 on ctx's device.
Tensor random_targets(const Shape& shape, const Context& ctx) {
  const std::vector<float> draw = bench::random_tensor(shape, DType::f32, Context::cpu()).to_vector<float>();
  std::vector<std::uint8_t> host(draw.size());
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = draw[i] > 0 ? 1 : 0;
  const Tensor staged = Tensor::from_vector(shape, host);
  return ctx.device() == Device::CPU ? staged : staged.copy_to(ctx);
}

void loss_step(benchmark::State& state, Where where, Variant variant, Shape shape, DType dtype) {
  const Context* ctx = where == Where::cpu ? &Context::cpu() : bench::gpu();
  if (ctx == nullptr) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const Shape per_voxel{shape[0], shape[1], shape[2], shape[3], 1};
  const Shape per_class{shape[0], shape[4]};
  const Tensor logits = bench::random_tensor(shape, dtype, *ctx, -3, 3);
  const Tensor labels = bench::random_labels(per_voxel, static_cast<int>(shape[4]), *ctx);
  const Tensor targets = variant == Variant::region ? random_targets(shape, *ctx) : Tensor();
  const Tensor grad_i = bench::random_tensor(per_class, DType::f32, *ctx, -0.1, 0.1);
  const Tensor grad_p = bench::random_tensor(per_class, DType::f32, *ctx, -0.1, 0.1);
  const double ce_scale = 1.0 / static_cast<double>(per_voxel.numel());
  const auto step = [&] {
    if (variant == Variant::softmax) {
      const DiceCrossEntropySums sums = dice_ce_forward(*ctx, logits, labels, kNoIgnoreLabel);
      const Tensor grad = dice_ce_backward(*ctx, logits, labels, kNoIgnoreLabel, ce_scale, grad_i, grad_p);
      benchmark::DoNotOptimize(sums.cross_entropy.loss_sum.raw());
      benchmark::DoNotOptimize(grad.raw());
    } else {
      const RegionLossSums sums = region_loss_forward(*ctx, logits, targets, RegionIgnore::none);
      const Tensor grad = region_loss_backward(*ctx, logits, targets, RegionIgnore::none, ce_scale, grad_i, grad_p);
      benchmark::DoNotOptimize(sums.bce.loss_sum.raw());
      benchmark::DoNotOptimize(grad.raw());
    }
    bench::sync(*ctx);
  };
  step();  // warm-up: pool growth
  for (auto _ : state) step();
  bench::set_rates(state, 0, step_bytes(shape, dtype, variant));
}

void register_all() {
  struct Run {
    const char* name;
    Where where;
    Variant variant;
    Shape shape;
    DType dtype;
  };
  const Run runs[] = {
      {"dice_ce_step/cpu_f32/3d_2x128^3x3_reduced_64^3", Where::cpu, Variant::softmax, kShape3dCpu, DType::f32},
      {"dice_ce_step/cpu_f32/2d_12x512^2x3", Where::cpu, Variant::softmax, kShape2d, DType::f32},
      {"dice_ce_step/cuda_f32/3d_2x128^3x3", Where::cuda, Variant::softmax, kShape3d, DType::f32},
      {"dice_ce_step/cuda_bf16/3d_2x128^3x3", Where::cuda, Variant::softmax, kShape3d, DType::bf16},
      {"dice_ce_step/cuda_f32/2d_12x512^2x3", Where::cuda, Variant::softmax, kShape2d, DType::f32},
      {"dice_ce_step/cuda_bf16/2d_12x512^2x3", Where::cuda, Variant::softmax, kShape2d, DType::bf16},
      {"region_step/cpu_f32/3d_2x128^3x3_reduced_64^3", Where::cpu, Variant::region, kShape3dCpu, DType::f32},
      {"region_step/cuda_bf16/3d_2x128^3x3", Where::cuda, Variant::region, kShape3d, DType::bf16},
  };
  for (const Run& run : runs)
    benchmark::RegisterBenchmark(run.name, loss_step, run.where, run.variant, run.shape, run.dtype)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = (register_all(), true);

}  // namespace
}  // namespace nnuc
