// One training step (forward + Dice/CE loss with deep supervision + backward + clipping + SGD) of
// nnU-Net's default PlainConvUNet. Peer: bench/baselines/torch_unet_step.py, same network, patch,
// batch and threads, run in the same session.
//
// Napkin math (spec/performance.md): forward MACs = Σ_convs C_in·C_out·k³·V_out; a training step is
// ≈ 3× the forward FLOPs. 128³ batch 2: 5.73 TFLOP per step; at 790 TFLOP/s (H100 bf16) the floor is
// ≈ 7.3 ms of convolutions + ≈ 3.8 ms of fused norm/activation traffic.
//   CPU: 32³ batch 2 (4 stages, 32…256 features: 32³ cannot take more poolings with stages >= 4³).
//   CUDA: 128³ batch 2, bf16 activations (mixed precision), the default 6-stage network.
#include <benchmark/benchmark.h>

#include "bench/kernels/bench_support.h"
#include "kernels/core/nvtx.h"
#include "nn/training_step.h"

namespace nnuc {
namespace {

nn::UNetConfig network_for_patch(int patch) {
  nn::UNetConfig config = nn::default_3d_config(1, 3);
  while (patch >> (config.stages() - 1) < 4) {
    config.features_per_stage.pop_back();
    config.kernel_sizes.pop_back();
    config.strides.pop_back();
    config.n_conv_per_stage.pop_back();
    config.n_conv_per_stage_decoder.pop_back();
  }
  return config;
}

// Forward FLOPs of the network at this patch (convs and transposed convs; 2 FLOPs per MAC).
double forward_flops(const nn::UNetConfig& config, int patch, int batch) {
  double flops = 0, voxels = double(patch) * patch * patch;
  int previous = config.input_channels;
  std::vector<double> stage_voxels;
  for (int s = 0; s < config.stages(); ++s) {
    if (s > 0) voxels /= 8;
    stage_voxels.push_back(voxels);
    const int f = config.features_per_stage[s];
    flops += 2.0 * voxels * 27 * (double(previous) * f + double(f) * f);
    previous = f;
  }
  for (int s = config.stages() - 2; s >= 0; --s) {
    const int f = config.features_per_stage[s], below = config.features_per_stage[s + 1];
    flops += 2.0 * stage_voxels[s] * below * f;                           // transposed conv
    flops += 2.0 * stage_voxels[s] * 27 * (2.0 * f * f + double(f) * f);  // two decoder convs
    flops += 2.0 * stage_voxels[s] * f * config.num_classes;              // head
  }
  return flops * batch;
}

void run_step(benchmark::State& state, const Context& ctx, int patch, int batch, DType activations) {
  const nn::UNetConfig config = network_for_patch(patch);
  nn::UNet network(ctx, config, DType::f32, 1);
  nn::SGD optimizer(ctx, network.parameters(), nn::OptimizerConfig{});
  const Tensor input = bench::random_tensor(Shape{batch, patch, patch, patch, 1}, activations, ctx);
  const Tensor labels = bench::random_labels(Shape{batch, patch, patch, patch, 1}, 3, ctx);
  nn::training_step(ctx, network, optimizer, input, labels, {}, 0.01);  // warm-up: algorithm choice
  bench::sync(ctx);
  for (auto _ : state) {
    nn::training_step(ctx, network, optimizer, input, labels, {}, 0.01);
    bench::sync(ctx);
  }
  bench::set_rates(state, 3 * forward_flops(config, patch, batch), 0);
  state.counters["stages"] = config.stages();
}

void BM_TrainingStepCpu(benchmark::State& state) {
  run_step(state, Context::cpu(), static_cast<int>(state.range(0)), 2, DType::f32);
}
BENCHMARK(BM_TrainingStepCpu)->Name("unet_step/cpu/32x32x32_b2")->Arg(32)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_TrainingStepCuda(benchmark::State& state) {
  NNUC_BENCH_REQUIRE_GPU(state);
  run_step(state, *bench::gpu(), static_cast<int>(state.range(0)), 2, DType::bf16);
}
BENCHMARK(BM_TrainingStepCuda)
    ->Name("unet_step/cuda/128x128x128_b2")
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace nnuc
