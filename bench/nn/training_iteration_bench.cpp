// One full training iteration of nnuc train, as the trainer runs it: the loader's next batch (worker
// threads cropping P_load patches out of memory-mapped .nnuc cases), the copy to the device, the
// augmentation there (nn/trainer_data.h), and the training step (forward, deep-supervision Dice + CE,
// backward, clipping, SGD), with the trainer's one host sync per step (the loss). Reported:
// iterations per second (items_per_second), and the share of the wall time spent waiting for the
// batch + augmentation ("data_ms") vs in the step ("step_ms").
//
// Napkin math. Step FLOPs ≈ 3 × forward (forward_flops below: Σ 2·V·k·C_in·C_out over convs, plus the
// transposed convs and heads).
//   CUDA, 3d_fullres 128³ batch 2 bf16, default 6-stage network: 5.73 TFLOP per step; at ~790 TFLOP/s
//     (H100/H200 dense bf16) ≈ 7.3 ms of convolutions + ≈ 3.8 ms of norm/activation traffic. The
//     batch: P_load crops of 2 × 205³ (±30° rotation, 0.85 scale enlargement, Appendix A.4) f32 +
//     i16 seg = 103 MB, copied host→device: ≈ 9 ms at ~12 GB/s from pageable memory (".../pageable",
//     the loader's batches in ordinary memory), ≈ 2 ms at ~50 GB/s from the
//     page-locked batches the trainer uses, queued without waiting; the spatial transform reads them
//     and writes 2 × 128³ × (4 + 2) B on the device, well under 0.1 ms at 4 TB/s. Floor ≈ 20 ms per
//     iteration (≈ 50 it/s). The trainer's per-step sync (the loss) leaves the copy on the critical
//     path: hiding it behind the previous step would need persistent device staging buffers, which the
//     memory model does not count.
//   CPU (this machine: 2 cores, ~157 GFLOP/s f32 peak, ~110 GFLOP/s reached by the convolutions):
//     2d 32² batch 7 (the tiny dataset's 2d plan, 4 stages 32…256): 3 × 2.0 = 6.0 GFLOP per step
//     ≈ 55 ms; the crops (7 × 37², ±180° → 90° keeps a square patch nearly unchanged) and their CPU
//     augmentation take well under a millisecond.
//     3d 40×32×32 batch 2 (the tiny 3d_fullres plan): 0.105 TFLOP per step ≈ 0.95 s; the crops
//     (2 × 59×51×56, ±30°) and their CPU augmentation ≈ 10 ms.
//   Measured here on 2026-12-04 with the machine shared (load average ~10 from parallel builds, so
//   wall times are inflated; CPU time is the process's): 2d 204 ms wall / 64 ms CPU per iteration,
//   data 0.4 ms; 3d 3.9 s wall / 0.95 s CPU, data 9 ms (110 GFLOP/s of CPU time).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "bench/kernels/bench_support.h"
#include "data/preprocess/store.h"
#include "nn/trainer_data.h"
#include "nn/training_step.h"

namespace nnuc {
namespace {

namespace fs = std::filesystem;

// Forward FLOPs of a U-Net for one batch of the patch (D, H, W): convolutions, transposed
// convolutions and the deep-supervision heads, 2 FLOPs per multiply-add.
double forward_flops(const nn::UNetConfig& config, const nn::Triple& patch, int batch) {
  std::vector<double> voxels;
  nn::Triple size = patch;
  double flops = 0;
  int previous = config.input_channels;
  for (int s = 0; s < config.stages(); ++s) {
    for (int a = 0; a < 3; ++a) size[a] /= config.strides[s][a];
    voxels.push_back(double(size[0]) * size[1] * size[2]);
    const double taps = double(config.kernel_sizes[s][0]) * config.kernel_sizes[s][1] * config.kernel_sizes[s][2];
    const int f = config.features_per_stage[s];
    for (int c = 0; c < config.n_conv_per_stage[s]; ++c) flops += 2.0 * voxels[s] * taps * (c ? f : previous) * f;
    previous = f;
  }
  for (int s = config.stages() - 2; s >= 0; --s) {
    const int f = config.features_per_stage[s], below = config.features_per_stage[s + 1];
    const double taps = double(config.kernel_sizes[s][0]) * config.kernel_sizes[s][1] * config.kernel_sizes[s][2];
    flops += 2.0 * voxels[s] * below * f;  // transposed convolution
    const int convs = config.n_conv_per_stage_decoder[static_cast<std::size_t>(config.stages() - 2 - s)];
    for (int c = 0; c < convs; ++c) flops += 2.0 * voxels[s] * taps * (c ? f : 2 * f) * f;
    flops += 2.0 * voxels[s] * f * config.num_classes;  // head
  }
  return flops * batch;
}

// Four preprocessed cases of `shape` in a temp folder: smooth random images, a label map of two
// nested blobs (labels 1, 2) with stored class locations, as nnuc plan writes them.
class SyntheticCases {
 public:
  explicit SyntheticCases(const data::Shape3& shape) {
    folder_ = fs::temp_directory_path() / ("nnuc_iteration_bench_" + std::to_string(::getpid()));
    fs::create_directories(folder_);
    std::mt19937_64 engine(7);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (int c = 0; c < 4; ++c) {
      data::PreprocessedCase preprocessed;
      preprocessed.identifier = "case_" + std::to_string(c);
      preprocessed.data = Tensor::empty_cpu(Shape{1, shape[0], shape[1], shape[2]}, DType::f32);
      preprocessed.seg = Tensor::empty_cpu(Shape{shape[0], shape[1], shape[2]}, DType::i16);
      float* image = preprocessed.data.data<float>();
      std::int16_t* seg = preprocessed.seg.data<std::int16_t>();
      std::int64_t v = 0;
      for (std::int64_t i = 0; i < shape[0]; ++i)
        for (std::int64_t j = 0; j < shape[1]; ++j)
          for (std::int64_t k = 0; k < shape[2]; ++k, ++v) {
            const double r = std::sqrt(std::pow((i - shape[0] / 2.0) / shape[0], 2) +
                                       std::pow((j - shape[1] / 2.0 - c) / shape[1], 2) +
                                       std::pow((k - shape[2] / 2.0) / shape[2], 2));
            seg[v] = static_cast<std::int16_t>(r < 0.12 ? 2 : r < 0.25 ? 1 : 0);
            image[v] = static_cast<float>(seg[v]) + 0.3f * noise(engine);
          }
      preprocessed.properties.shape_before_cropping = shape;
      preprocessed.properties.shape_after_cropping_and_before_resampling = shape;
      preprocessed.properties.spacing = {1, 1, 1};
      preprocessed.properties.spacing_after_resampling = {1, 1, 1};
      preprocessed.properties.bbox_used_for_cropping.end = shape;
      preprocessed.properties.has_class_locations = true;
      preprocessed.properties.class_locations =
          data::sample_class_locations(preprocessed.seg, data::classes_for_sampling({0, 1, 2}, {}, false, false));
      const std::string path = (folder_ / (preprocessed.identifier + data::kStoreFileEnding)).string();
      data::write_preprocessed_case(path, preprocessed);
      files_.push_back(path);
    }
  }
  ~SyntheticCases() {
    std::error_code ignored;
    fs::remove_all(folder_, ignored);
  }
  const std::vector<std::string>& files() const { return files_; }

 private:
  fs::path folder_;
  std::vector<std::string> files_;
};

void run_iterations(benchmark::State& state, const Context& ctx, const nn::UNetConfig& config,
                    const std::vector<std::int64_t>& patch, int batch, DType activations, bool page_locked = true) {
  data::Shape3 case_shape{};
  for (std::size_t a = 0; a < 3; ++a) {
    const std::int64_t p = patch.size() == 2 ? (a == 0 ? 8 : patch[a - 1]) : patch[a];
    case_shape[a] = p + p / 4;  // larger than the patch: crops land inside and at the borders
  }
  const SyntheticCases cases(case_shape);
  nn::PipelineSpec spec;
  spec.training_cases = spec.validation_cases = cases.files();
  spec.patch = patch;
  spec.batch_size = batch;
  spec.use_mask_for_norm = {false};
  spec.activations = activations;
  spec.workers = static_cast<int>(state.range(0));
  spec.page_locked_batches = page_locked;
  std::unique_ptr<nn::TrainerData> data = nn::pipeline_data(ctx, spec)(/*seed=*/1, 0, 0);
  nn::UNet network(ctx, config, DType::f32, 1);
  nn::SGD optimizer(ctx, network.parameters(), nn::OptimizerConfig{});
  const auto iteration = [&](double& data_seconds, double& step_seconds) {
    const auto start = std::chrono::steady_clock::now();
    const nn::TrainerBatch batch_ready = data->next_training_batch();
    const auto loaded = std::chrono::steady_clock::now();
    const nn::StepOutcome outcome =
        nn::training_step(ctx, network, optimizer, batch_ready.input, batch_ready.target, {}, 0.01);
    benchmark::DoNotOptimize(outcome.loss.value().to_vector<double>()[0]);  // the trainer's per-step sync
    data_seconds += std::chrono::duration<double>(loaded - start).count();
    step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - loaded).count();
  };
  double data_seconds = 0, step_seconds = 0;
  iteration(data_seconds, step_seconds);  // warm-up: convolution plans, allocator pools
  data_seconds = step_seconds = 0;
  for (auto _ : state) iteration(data_seconds, step_seconds);
  const double n = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
  state.counters["data_ms"] = 1e3 * data_seconds / n;
  state.counters["step_ms"] = 1e3 * step_seconds / n;
  const nn::Triple p3 = patch.size() == 2 ? nn::Triple{1, int(patch[0]), int(patch[1])}
                                          : nn::Triple{int(patch[0]), int(patch[1]), int(patch[2])};
  state.counters["step_TFLOP"] = 3 * forward_flops(config, p3, batch) * 1e-12;
  state.counters["workers"] = static_cast<double>(spec.workers);
}

// The tiny dataset's plans (nnuc synth --preset tiny; nnuc plan): 4 stages of 32…256 features.
nn::UNetConfig tiny_network(bool two_d) {
  nn::UNetConfig config = nn::default_3d_config(1, 3);
  config.features_per_stage = {32, 64, 128, 256};
  config.kernel_sizes.assign(4, two_d ? nn::Triple{1, 3, 3} : nn::Triple{3, 3, 3});
  config.strides = {nn::Triple{1, 1, 1}, nn::Triple{1, 2, 2}, nn::Triple{1, 2, 2}, nn::Triple{1, 2, 2}};
  if (!two_d) config.strides = {nn::Triple{1, 1, 1}, nn::Triple{2, 2, 2}, nn::Triple{2, 2, 2}, nn::Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2, 2};
  config.n_conv_per_stage_decoder = {2, 2, 2};
  return config;
}

void BM_IterationCpu2d(benchmark::State& state) {
  run_iterations(state, Context::cpu(), tiny_network(true), {32, 32}, 7, DType::f32);
}
BENCHMARK(BM_IterationCpu2d)
    ->Name("train_iteration/cpu/2d_32x32_b7")
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

void BM_IterationCpu3d(benchmark::State& state) {
  run_iterations(state, Context::cpu(), tiny_network(false), {40, 32, 32}, 2, DType::f32);
}
BENCHMARK(BM_IterationCpu3d)
    ->Name("train_iteration/cpu/3d_40x32x32_b2")
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);

void BM_IterationCuda(benchmark::State& state) {
  NNUC_BENCH_REQUIRE_GPU(state);
  run_iterations(state, *bench::gpu(), nn::default_3d_config(1, 3), {128, 128, 128}, 2, DType::bf16);
}
BENCHMARK(BM_IterationCuda)
    ->Name("train_iteration/cuda/3d_fullres_128x128x128_b2_bf16")
    ->Arg(4)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

// The same with the loader's batches in ordinary (pageable) host memory: the peer of the line above.
void BM_IterationCudaPageable(benchmark::State& state) {
  NNUC_BENCH_REQUIRE_GPU(state);
  run_iterations(state, *bench::gpu(), nn::default_3d_config(1, 3), {128, 128, 128}, 2, DType::bf16,
                 /*page_locked=*/false);
}
BENCHMARK(BM_IterationCudaPageable)
    ->Name("train_iteration/cuda/3d_fullres_128x128x128_b2_bf16/pageable")
    ->Arg(4)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

}  // namespace
}  // namespace nnuc
