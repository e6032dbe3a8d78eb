// A program that embeds nnuc's predictor (nn/predict/predictor.h): the model folder is loaded once
// into a PredictorModel shared by N threads, each thread predicts the same NIfTI image with its own
// PredictorSession, the threads' label maps are compared (they must be identical), the first one is
// written as NIfTI with the input's geometry, and the latency of every call is printed. (On CUDA the
// label maps may differ in a few voxels where classes nearly tie: see kCudaDifferingFraction.)
//
//   predict_volume MODEL_FOLDER OUTPUT.nii.gz IMAGE_0000.nii.gz [IMAGE_0001.nii.gz ...]
//                  [--threads N] [--calls N] [--device cpu|cuda] [--folds 0,1,...] [--no-mirroring]
//
// MODEL_FOLDER is what nnuc train (or nnU-Net v2) writes: plans.json, dataset.json and
// fold_K/checkpoint_final.{nnuc,pth}. Exit codes: 0 success, 1 failure (including threads that
// disagree), 2 usage error.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/export/export.h"
#include "data/preprocess/nifti_case.h"
#include "kernels/core/device.h"
#include "kernels/core/error.h"
#include "nn/predict/predictor.h"
#include "planner/model_folder.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// CPU sessions compute bit-identical logits, so their label maps must match exactly. CUDA sessions run
// in deterministic mode with a fixed tile batch (below), which should make them bit-identical too; this
// allowance stays until a GPU run confirms it. (Without deterministic mode, each session chose its own
// cuDNN algorithms by timing them, and on an H200 with a barely trained 2d model, whose logits nearly
// tie everywhere, up to 0.5% of the voxels flipped between sessions, and as much between two
// single-threaded processes: not an effect of the threads.)
constexpr double kCudaDifferingFraction = 0.01;

const char* const kUsage =
    "usage: predict_volume MODEL_FOLDER OUTPUT.nii.gz IMAGE_0000.nii.gz [IMAGE_0001.nii.gz ...]\n"
    "                      [--threads N] [--calls N] [--device cpu|cuda] [--folds 0,1,...] [--no-mirroring]\n"
    "  Loads the model folder once, predicts the image in N threads at once (one session per thread,\n"
    "  default 2), each thread N calls (default 1), checks that every label map is identical, writes\n"
    "  the first to OUTPUT.nii.gz and prints the latency of each call. Default device: cuda when a GPU\n"
    "  is present, else cpu.\n";

struct Arguments {
  std::string model_folder, output;
  std::vector<std::string> images;
  int threads = 2, calls = 1;
  nnuc::Device device = nnuc::cuda_available() ? nnuc::Device::CUDA : nnuc::Device::CPU;
  std::vector<std::string> folds;  // empty: every fold of the model folder
  bool mirroring = true;
};

bool parse_count(const char* text, int& out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 1 || value > 1024) return false;
  out = static_cast<int>(value);
  return true;
}

// False (after printing why) when the command line is not usable.
bool parse_arguments(int argc, char** argv, Arguments& args) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if ((arg == "--threads" || arg == "--calls") && has_value) {
      if (!parse_count(argv[++i], arg == "--threads" ? args.threads : args.calls)) {
        std::fprintf(stderr, "predict_volume: %s %s: expected a whole number in [1, 1024]\n", arg.c_str(), argv[i]);
        return false;
      }
    } else if (arg == "--device" && has_value) {
      const std::string device = argv[++i];
      if (device != "cpu" && device != "cuda") {
        std::fprintf(stderr, "predict_volume: --device %s: expected cpu or cuda\n", device.c_str());
        return false;
      }
      args.device = device == "cuda" ? nnuc::Device::CUDA : nnuc::Device::CPU;
    } else if (arg == "--folds" && has_value) {
      std::stringstream list(argv[++i]);
      for (std::string fold; std::getline(list, fold, ',');)
        if (!fold.empty()) args.folds.push_back(fold);
    } else if (arg == "--no-mirroring") {
      args.mirroring = false;
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "predict_volume: unknown option or missing value: %s\n", arg.c_str());
      return false;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 3) return false;
  args.model_folder = positional[0];
  args.output = positional[1];
  args.images.assign(positional.begin() + 2, positional.end());
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What one thread did: its first label map and the timing of each call.
struct ThreadResult {
  nnuc::nn::Prediction first;
  std::vector<double> call_seconds, preprocess_seconds, network_seconds, export_seconds;
  std::exception_ptr failure;
};

// Voxels where two label maps differ; -1 when their shapes or dtypes differ.
std::int64_t differing_voxels(const nnuc::Tensor& a, const nnuc::Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return -1;
  const std::size_t element = a.bytes() / static_cast<std::size_t>(std::max<std::int64_t>(a.numel(), 1));
  const auto* pa = static_cast<const unsigned char*>(a.raw());
  const auto* pb = static_cast<const unsigned char*>(b.raw());
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i)
    count += std::memcmp(pa + i * element, pb + i * element, element) != 0 ? 1 : 0;
  return count;
}

int run(const Arguments& args) {
  // The model: read and checked once, its networks built on the device once, shared by every thread.
  auto start = std::chrono::steady_clock::now();
  nnuc::planner::ModelFolderOptions folder_options;
  folder_options.folds = args.folds;
  auto model = std::make_shared<const nnuc::nn::PredictorModel>(
      nnuc::planner::read_model_folder(args.model_folder, folder_options), args.device);
  std::printf("model %s (%s, %zu fold(s)) loaded on %s in %.2f s\n", args.model_folder.c_str(),
              model->spec().configuration.c_str(), model->spec().folds.size(), nnuc::device_name(args.device),
              seconds_since(start));

  start = std::chrono::steady_clock::now();
  const nnuc::data::LoadedCase input = nnuc::data::read_nifti_case("case", args.images, "");
  std::printf("image %s: %lld channel(s) of %lld x %lld x %lld read in %.2f s\n", args.images[0].c_str(),
              static_cast<long long>(input.image.dim(0)), static_cast<long long>(input.image.dim(1)),
              static_cast<long long>(input.image.dim(2)), static_cast<long long>(input.image.dim(3)),
              seconds_since(start));

  nnuc::nn::PredictOptions options;
  options.use_mirroring = args.mirroring;
  // Same bits in every session: deterministic cuDNN algorithms and a fixed tile batch (the automatic
  // one depends on the free device memory at the time of the call).
  options.deterministic = true;
  options.tile_batch = 2;
  std::vector<ThreadResult> results(static_cast<std::size_t>(args.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < args.threads; ++t) {
    threads.emplace_back([&, t] {
      ThreadResult& result = results[static_cast<std::size_t>(t)];
      try {
        const nnuc::nn::PredictorSession session(model, options);  // this thread's stream and handles
        for (int call = 0; call < args.calls; ++call) {
          const auto call_start = std::chrono::steady_clock::now();
          nnuc::nn::Prediction prediction = session.predict(input);
          result.call_seconds.push_back(seconds_since(call_start));
          result.preprocess_seconds.push_back(prediction.preprocess_seconds);
          result.network_seconds.push_back(prediction.network_seconds);
          result.export_seconds.push_back(prediction.export_seconds);
          if (call == 0) result.first = std::move(prediction);
        }
      } catch (...) {
        result.failure = std::current_exception();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const ThreadResult& result : results)
    if (result.failure) std::rethrow_exception(result.failure);

  std::printf("\n%-7s %-5s %10s %12s %10s %10s\n", "thread", "call", "total_s", "preprocess_s", "network_s",
              "export_s");
  for (std::size_t t = 0; t < results.size(); ++t)
    for (std::size_t c = 0; c < results[t].call_seconds.size(); ++c)
      std::printf("%-7zu %-5zu %10.3f %12.3f %10.3f %10.3f\n", t, c, results[t].call_seconds[c],
                  results[t].preprocess_seconds[c], results[t].network_seconds[c], results[t].export_seconds[c]);

  // Sessions share the model's weights and nothing mutable, so every thread's label map is the same
  // (on CUDA up to near-tie voxels, see kCudaDifferingFraction).
  const nnuc::Tensor& reference = results[0].first.segmentation;
  const double allowed = args.device == nnuc::Device::CUDA ? kCudaDifferingFraction * double(reference.numel()) : 0;
  int disagreeing = 0;
  std::int64_t most_differing = 0;
  for (std::size_t t = 1; t < results.size(); ++t) {
    const std::int64_t differing = differing_voxels(reference, results[t].first.segmentation);
    if (differing < 0) {
      std::fprintf(stderr, "thread %zu: label map %s, thread 0: %s\n", t,
                   results[t].first.segmentation.describe().c_str(), reference.describe().c_str());
      ++disagreeing;
    } else if (differing > 0) {
      std::fprintf(stderr, "thread %zu: %lld of %lld voxels differ from thread 0\n", t,
                   static_cast<long long>(differing), static_cast<long long>(reference.numel()));
      most_differing = std::max(most_differing, differing);
      if (double(differing) > allowed) ++disagreeing;
    }
  }
  if (disagreeing > 0) {
    std::fprintf(stderr, "predict_volume: %d of %d threads disagree with thread 0\n", disagreeing, args.threads);
    return kExitFailure;
  }
  if (most_differing == 0)
    std::printf("\nall %d threads' label maps are identical (%s)\n", args.threads, reference.describe().c_str());
  else
    std::printf(
        "\nthe %d threads' label maps agree up to %lld near-tie voxels (%s; CUDA sessions choose their own "
        "convolution algorithms)\n",
        args.threads, static_cast<long long>(most_differing), reference.describe().c_str());

  nnuc::data::write_segmentation(args.output, reference, results[0].first.properties);
  std::printf("wrote %s\n", args.output.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  if (!parse_arguments(argc, argv, args)) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  try {
    return run(args);
  } catch (const nnuc::InvalidInput& error) {
    std::fprintf(stderr, "predict_volume: %s\n", error.what());
    return kExitUsage;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "predict_volume: %s\n", error.what());
    return kExitFailure;
  }
}
