// Inference latency of nnU-Net's default 3d_fullres network (nn::default_3d_config: 6 stages,
// 32…320 features, 3³ kernels, 1 input channel, 3 classes) with random weights:
//   (a) predictor_patch/*: one 128³ patch through the network in no-grad mode (what the sliding
//       window runs per tile), CPU f32 and CUDA bf16 activations;
//   (b) predictor_case/*: one whole case through PredictorSession::logits (sliding window with step
//       0.5 and Gaussian weighting, logits back on the host), test-time mirroring on and off. The model
//       is built by hand: a UNet constructed on the CPU whose parameters become
//       PredictorModelSpec::fold_weights (one fold), as a model folder would provide them.
//
// Napkin math (bench/nn/unet_bench.h; peaks from bench/kernels/bench_support.h):
//   Forward of one 128³ patch: 0.955 TFLOP (encoder 0.278, decoder 0.677; the 128³ stage alone is
//   0.48). CUDA bf16 at ~790 TFLOP/s: 1.2 ms of convolutions; the norm/activation traffic is
//   ≈ 3.5 GB per forward (the 128³ × 32-channel bf16 tensors are 134 MB each, ~25 of them read or
//   written at that stage, 1/4 of that again below) ≈ 0.8 ms at ~4.3 TB/s: floor ≈ 2 ms per tile.
//   CPU f32 (2 cores, ~110 GFLOP/s reached by the convolutions): ≈ 9 s.
//   Whole case 160×192×160, patch 128³, step 0.5: steps per axis ceil((160-128)/64)+1 = 2,
//   ceil((192-128)/64)+1 = 2, 2 → 8 tiles = 7.6 TFLOP; mirroring over 3 axes runs 2³ = 8 passes per
//   tile → 64 forwards = 61 TFLOP. Floors on an H200: 8 × 2 ms ≈ 16 ms without mirroring, 64 × 2 ms ≈
//   128 ms with; plus the volume in (1 × 160·192·160 f32 = 19.7 MB) and the logits out (3 channels,
//   59 MB) over PCIe from pageable memory at ~12 GB/s ≈ 6.5 ms, and the Gaussian accumulation
//   (8 tiles × 3 × 128³ f32 read + written twice ≈ 0.4 GB, 0.1 ms).
//   CPU case: the 4-stage network of a 32³ patch (32…256 features, 14 GFLOP per forward) on
//   32×64×32: 1 × 3 × 1 = 3 tiles (42 GFLOP, ≈ 0.4 s), 24 forwards with mirroring (0.34 TFLOP, ≈ 3 s).
//
// Measured on an H200 (2026-12-04, one run; no peer in this benchmark, bench/nn/sliding_window_bench.cpp
// and bench/baselines/ hold the comparisons): patch bf16 6.84 ms (140 TFLOP/s, 3.4x the 2 ms floor);
// case 441 ms with mirroring (64 forwards in 8 calls of 8 tiles), 127 ms without (8 forwards in one
// call). Both fit ≈ 46 ms per call of 8 tiles (5.8 ms a tile) plus ≈ 75 ms per logits() call outside
// the network, of which the copies explain ≈ 6.5 ms: that fixed part is 60% of a case without
// mirroring. The machine's CPU (16 cores): patch 1.44 s (665 GFLOP/s); case 521 ms / 65 ms.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench/kernels/bench_support.h"
#include "bench/nn/unet_bench.h"
#include "nn/predict/predictor.h"

namespace nnuc {
namespace {

constexpr int kClasses = 3;

// ---- (a) one patch -------------------------------------------------------------------------------

constexpr int kPatch = 128;

void run_patch(benchmark::State& state, const Context& ctx, DType activations) {
  const nn::UNetConfig config = bench::network_for_patch(kPatch, kClasses, false);
  nn::UNet network(ctx, config, DType::f32, 1);
  const Tensor input = bench::random_tensor(Shape{1, kPatch, kPatch, kPatch, 1}, activations, ctx);  // (N, D, H, W, C)
  nn::Tape tape(ctx);
  autograd::NoGradGuard no_grad(tape);  // inference: the tape keeps nothing
  bench::time_iterations(state, ctx, [&] {
    std::vector<nn::Var> logits = network.forward(tape, nn::Var(input));  // (1, D, H, W, K)
    benchmark::DoNotOptimize(logits);
  });
  bench::set_rates(state, bench::unet_forward_flops(config, {kPatch, kPatch, kPatch}, 1), 0);
  state.counters["stages"] = config.stages();
}

void BM_PatchCpu(benchmark::State& state) { run_patch(state, Context::cpu(), DType::f32); }
BENCHMARK(BM_PatchCpu)
    ->Name("predictor_patch/cpu_f32/128x128x128")
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);

void BM_PatchCuda(benchmark::State& state) {
  NNUC_BENCH_REQUIRE_GPU(state);
  run_patch(state, *bench::gpu(), DType::bf16);
}
BENCHMARK(BM_PatchCuda)
    ->Name("predictor_patch/cuda_bf16/128x128x128")
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->MinTime(1.0);

// ---- (b) one whole case --------------------------------------------------------------------------

// A one-fold model of `config` with random weights, as planner::read_model_folder would hand it over.
std::shared_ptr<const nn::PredictorModel> random_model(const nn::UNetConfig& config, int patch, Device device) {
  nn::PredictorModelSpec spec;
  spec.folder = "(random weights)";
  spec.configuration = "3d_fullres";
  spec.network = config;
  spec.folds = {"0"};
  nn::UNet network(Context::cpu(), config, DType::f32, 7);
  std::vector<std::pair<std::string, Tensor>> weights;
  for (const nn::NamedParameter& parameter : network.parameters())
    weights.emplace_back(parameter.name, parameter.var->value());  // host f32, shared with `network`
  spec.fold_weights.push_back(std::move(weights));
  spec.patch = {patch, patch, patch};
  spec.mirror_axes = {0, 1, 2};
  spec.image_channels = 1;
  spec.all_labels = {0, 1, 2};
  return std::make_shared<const nn::PredictorModel>(std::move(spec), device);
}

void run_case(benchmark::State& state, Device device, int patch, const Shape& volume, bool mirroring) {
  const nn::UNetConfig config = bench::network_for_patch(patch, kClasses, false);
  const auto model = random_model(config, patch, device);
  nn::PredictOptions options;
  options.use_mirroring = mirroring;
  const nn::PredictorSession session(model, options);
  const Tensor data = bench::random_tensor(Shape{1, volume[0], volume[1], volume[2]}, DType::f32, Context::cpu());
  nn::SlidingWindowStats stats;
  benchmark::DoNotOptimize(session.logits(data, &stats));  // warm-up: convolution algorithms, allocator pools
  for (auto _ : state) {  // wall clock (UseRealTime): the call waits for the device and OpenMP's threads
    Tensor logits = session.logits(data);  // f32 (K, b0, b1, b2) on the host
    benchmark::DoNotOptimize(logits);
  }
  std::int64_t tiles = 1;  // nnU-Net's tiling: ceil((S - P) / (P * step)) + 1 starts per axis
  for (int axis = 0; axis < 3; ++axis)
    tiles *= static_cast<std::int64_t>(nn::sliding_window_starts(volume[axis], patch, options.step_size).size());
  const std::int64_t passes = tiles * (mirroring ? 8 : 1);  // 2^3 flips over the mirror axes (0, 1, 2)
  const double voxels = double(volume[0]) * volume[1] * volume[2];
  bench::set_rates(state, double(passes) * bench::unet_forward_flops(config, {patch, patch, patch}, 1),
                   voxels * 4 * (1 + kClasses));  // the volume in, the logits out
  state.counters["tiles"] = double(tiles);
  state.counters["forwards"] = double(passes);
  state.counters["network_calls"] = double(stats.network_calls);  // fewer than forwards when tiles are batched
  state.counters["tile_batch"] = stats.final_tile_batch;
}

void BM_CaseCpu(benchmark::State& state, bool mirroring) {
  run_case(state, Device::CPU, 32, Shape{32, 64, 32}, mirroring);
}
BENCHMARK_CAPTURE(BM_CaseCpu, mirroring, true)
    ->Name("predictor_case/cpu_f32/32x64x32_patch32/mirroring")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_CaseCpu, no_mirroring, false)
    ->Name("predictor_case/cpu_f32/32x64x32_patch32/no_mirroring")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

void BM_CaseCuda(benchmark::State& state, bool mirroring) {
  NNUC_BENCH_REQUIRE_GPU(state);
  run_case(state, Device::CUDA, 128, Shape{160, 192, 160}, mirroring);
}
BENCHMARK_CAPTURE(BM_CaseCuda, mirroring, true)
    ->Name("predictor_case/cuda_bf16/160x192x160_patch128/mirroring")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);
BENCHMARK_CAPTURE(BM_CaseCuda, no_mirroring, false)
    ->Name("predictor_case/cuda_bf16/160x192x160_patch128/no_mirroring")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace
}  // namespace nnuc
