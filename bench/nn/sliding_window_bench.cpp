// One whole-volume sliding-window prediction (nn/predict/sliding_window.h, spec §8.3): tiles of the
// patch with step 0.5, test-time mirroring over the three axes (8 forwards per tile), Gaussian-weighted
// accumulation, one fold. Reported: seconds per volume and the network's FLOP/s.
//
// Napkin math: FLOPs per volume = forward FLOPs per tile (bench::unet_forward_flops: Σ 2·V·k·C_in·C_out
// over the convolutions, transposed convolutions and the head) × tiles × 8 mirrorings. The window ops move
// (C + 2K + 1) · 4 B per tile voxel and mirroring plus (2K + 1) · 4 B per accumulated voxel: noise next
// to the network.
//   CUDA: the default 3d_fullres network (6 stages, 32…320), patch 128³, bf16, volume 256³:
//     starts (0, 64, 128) per axis → 27 tiles × 8 = 216 forwards of 0.95 TFLOP = 206 TFLOP; at ~790
//     TFLOP/s (H200 dense bf16) the floor is ≈ 0.26 s per volume. Buffers: K = 3 logits + weights f32 of
//     256³ = 268 MB on the device, one 201 MB copy to the host at the end (≈ 17 ms at ~12 GB/s).
//     Measured on an H200 (2026-12-04): 1.34 s per volume (154 TFLOP/s, 19 % of the bf16 peak),
//     automatic tile batch 8.
//   CPU (2 cores here, ~110 GFLOP/s reached by the f32 convolutions): 4 stages (32…256), patch 32³,
//     volume 48³: starts (0, 16) per axis → 8 tiles × 8 = 64 forwards of 14 GFLOP = 0.90 TFLOP ≈ 8 s.
//     Measured here (2026-12-04, machine shared, load average 9): 8.1 s of CPU time (110 GFLOP/s), 61 s wall.
#include <benchmark/benchmark.h>

#include "bench/kernels/bench_support.h"
#include "bench/nn/unet_bench.h"
#include "nn/predict/sliding_window.h"

namespace nnuc {
namespace {

void run_prediction(benchmark::State& state, const Context& ctx, int patch, int volume, DType activations) {
  const nn::UNetConfig config = bench::network_for_patch(patch, 3, false);
  nn::UNet network(ctx, config, DType::f32, 1);
  const Tensor image = bench::random_tensor(Shape{1, volume, volume, volume}, DType::f32, Context::cpu());
  nn::SlidingWindowOptions options;
  options.patch = {patch, patch, patch};
  options.mirror_axes = {0, 1, 2};
  options.activations = activations;
  nn::SlidingWindowStats stats;
  nn::predict_sliding_window(ctx, {&network}, image, options, &stats);  // warm-up: convolution algorithm choice
  for (auto _ : state) {
    const Tensor logits = nn::predict_sliding_window(ctx, {&network}, image, options, &stats);
    benchmark::DoNotOptimize(logits.raw());
  }
  bench::set_rates(state, bench::unet_forward_flops(config, {patch, patch, patch}, 1) * double(stats.tiles) * 8, 0);
  state.counters["tiles"] = double(stats.tiles);
  state.counters["tile_batch"] = stats.final_tile_batch;
}

void BM_SlidingWindowCpu(benchmark::State& state) { run_prediction(state, Context::cpu(), 32, 48, DType::f32); }
BENCHMARK(BM_SlidingWindowCpu)->Name("sliding_window/cpu/48^3_patch32_tta8")->Unit(benchmark::kSecond)->Iterations(1);

void BM_SlidingWindowCuda(benchmark::State& state) {
  NNUC_BENCH_REQUIRE_GPU(state);
  run_prediction(state, *bench::gpu(), 128, 256, DType::bf16);
}
BENCHMARK(BM_SlidingWindowCuda)
    ->Name("sliding_window/cuda/256^3_patch128_tta8_bf16")
    ->Unit(benchmark::kSecond)
    ->Iterations(3);

}  // namespace
}  // namespace nnuc
