#include "planner/exact_memory_model.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "kernels/core/error.h"

#ifdef NNUC_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace nnuc::planner {

namespace {

constexpr double kBytesPerGb = 1073741824.0;  // 2^30

nn::Triple axis_triple(const std::vector<int>& values, int fill_for_2d) {
  if (values.size() == 2) return nn::Triple{fill_for_2d, values[0], values[1]};
  return nn::Triple{values[0], values[1], values[2]};
}

void append_list(std::ostringstream& key, const std::vector<int>& values) {
  for (int v : values) key << v << ',';
  key << ';';
}

// Everything the Meta run depends on besides the model's own options.
std::string cache_key(const NetworkTopology& t, std::int64_t batch, const std::vector<std::int64_t>& patch) {
  std::ostringstream key;
  key << static_cast<int>(t.network_class) << '|' << t.dim << '|' << t.input_channels << '|' << t.output_channels
      << '|';
  append_list(key, t.features_per_stage);
  for (const auto& k : t.kernel_sizes) append_list(key, k);
  key << '|';
  for (const auto& s : t.strides) append_list(key, s);
  key << '|';
  append_list(key, t.blocks_per_stage);
  append_list(key, t.conv_per_stage_decoder);
  key << '|' << batch << '|';
  for (std::int64_t p : patch) key << p << ',';
  return key.str();
}

std::string gib_text(std::uint64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / kBytesPerGb);
  return text;
}

}  // namespace

nn::LossConfig loss_config_for(const data::DatasetJson& dataset) {
  nn::LossConfig loss;
  loss.regions = dataset.has_regions();
  if (const std::optional<int> ignore = dataset.ignore_label()) {
    if (loss.regions) {
      loss.region_ignore = RegionIgnore::last_target_channel;
    } else {
      loss.ignore_label = *ignore;
    }
  }
  return loss;
}

nn::UNetConfig unet_config_for(const NetworkTopology& topology) {
  NNUC_CHECK(topology.dim == 2 || topology.dim == 3, "unet_config_for: dim = ", topology.dim, ", expected 2 or 3");
  const std::size_t stages = topology.strides.size();
  NNUC_CHECK(stages >= 1 && topology.kernel_sizes.size() == stages && topology.features_per_stage.size() == stages &&
                 topology.blocks_per_stage.size() == stages && topology.conv_per_stage_decoder.size() + 1 == stages,
             "unet_config_for: inconsistent topology (", stages, " strides, ", topology.kernel_sizes.size(),
             " kernels, ", topology.features_per_stage.size(), " features, ", topology.blocks_per_stage.size(),
             " blocks, ", topology.conv_per_stage_decoder.size(), " decoder stages)");
  nn::UNetConfig config;
  config.encoder =
      topology.network_class == NetworkClass::ResidualEncoderUNet ? nn::EncoderKind::Residual : nn::EncoderKind::Plain;
  config.input_channels = topology.input_channels;
  config.num_classes = topology.output_channels;
  config.features_per_stage = topology.features_per_stage;
  for (std::size_t s = 0; s < stages; ++s) {
    NNUC_CHECK(static_cast<int>(topology.kernel_sizes[s].size()) == topology.dim &&
                   static_cast<int>(topology.strides[s].size()) == topology.dim,
               "unet_config_for: stage ", s, " has kernel/stride lists of length ", topology.kernel_sizes[s].size(),
               "/", topology.strides[s].size(), " for dim ", topology.dim);
    config.kernel_sizes.push_back(axis_triple(topology.kernel_sizes[s], 1));
    config.strides.push_back(axis_triple(topology.strides[s], 1));
  }
  config.n_conv_per_stage = topology.blocks_per_stage;
  config.n_conv_per_stage_decoder = topology.conv_per_stage_decoder;
  config.deep_supervision = true;
  return config;
}

nn::Triple patch_triple(const std::vector<std::int64_t>& patch_size) {
  NNUC_CHECK(patch_size.size() == 2 || patch_size.size() == 3, "patch_triple: patch has ", patch_size.size(),
             " entries, expected 2 or 3");
  for (std::int64_t p : patch_size) {
    NNUC_CHECK(p >= 1 && p <= 1000000, "patch_triple: patch edge ", p, " out of range [1, 1000000]");
  }
  if (patch_size.size() == 2) return nn::Triple{1, static_cast<int>(patch_size[0]), static_cast<int>(patch_size[1])};
  return nn::Triple{static_cast<int>(patch_size[0]), static_cast<int>(patch_size[1]), static_cast<int>(patch_size[2])};
}

ExactMemoryModel::ExactMemoryModel(ExactMemoryModelOptions options) : options_(options) {
  NNUC_CHECK(options_.device == Device::CPU || options_.device == Device::CUDA,
             "ExactMemoryModel: the modelled device must be CPU or CUDA, got ", device_name(options_.device));
}

nn::TrainingStepSpec ExactMemoryModel::step_spec(const NetworkTopology& topology, std::int64_t batch,
                                                 const std::vector<std::int64_t>& patch_size) const {
  NNUC_CHECK(batch >= 1 && batch <= 1000000, "ExactMemoryModel: batch = ", batch, ", expected in [1, 1000000]");
  NNUC_CHECK(static_cast<int>(patch_size.size()) == topology.dim, "ExactMemoryModel: patch has ", patch_size.size(),
             " entries for a ", topology.dim, "-D topology");
  nn::TrainingStepSpec spec;
  spec.network = unet_config_for(topology);
  spec.batch_size = static_cast<int>(batch);
  spec.patch_size = patch_triple(patch_size);
  spec.device = options_.device;
  spec.activations = options_.device == Device::CUDA ? DType::bf16 : DType::f32;
  spec.loss = options_.loss;
  spec.workspace_cap = options_.workspace_cap;
  return spec;
}

nn::TrainingStepMemory ExactMemoryModel::breakdown(const NetworkTopology& topology, std::int64_t batch,
                                                   const std::vector<std::int64_t>& patch_size) const {
  const nn::TrainingStepSpec spec = step_spec(topology, batch, patch_size);
  const std::string key = cache_key(topology, batch, patch_size);
  // One lock around the run too: the Meta allocator's peak counter is process-wide.
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = cache_.find(key); found != cache_.end()) {
    ++statistics_.cache_hits;
    return found->second;
  }
  const auto start = std::chrono::steady_clock::now();
  const nn::TrainingStepMemory memory = nn::predict_training_step_memory(spec);
  statistics_.meta_run_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++statistics_.meta_runs;
  cache_.emplace(key, memory);
  return memory;
}

std::uint64_t ExactMemoryModel::predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                                     const std::vector<std::int64_t>& patch_size) const {
  return breakdown(topology, batch, patch_size).device_total();
}

ExactMemoryModel::Statistics ExactMemoryModel::statistics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return statistics_;
}

std::optional<std::uint64_t> cuda_device_total_bytes(int index) {
  if (!cuda_available()) return std::nullopt;
#ifdef NNUC_WITH_CUDA
  cudaDeviceProp properties{};
  if (cudaGetDeviceProperties(&properties, index) != cudaSuccess) {
    (void)cudaGetLastError();
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(properties.totalGlobalMem);
#else
  (void)index;
  return std::nullopt;
#endif
}

ResolvedBudget resolve_memory_budget(std::optional<double> explicit_gb, bool exact_model_on_cuda,
                                     double preset_default_gb) {
  ResolvedBudget resolved;
  if (explicit_gb) {
    resolved.budget.gpu_memory_gb = *explicit_gb;
    (void)resolved.budget.bytes();  // validates
    std::ostringstream source;
    source << "--gpu-memory " << *explicit_gb << " (GB of 2^30 bytes)";
    resolved.source = source.str();
    return resolved;
  }
  if (exact_model_on_cuda) {
    if (const std::optional<std::uint64_t> total = cuda_device_total_bytes(0)) {
      NNUC_CHECK(*total > kCudaDeviceReserveBytes, "CUDA device 0 reports ", *total,
                 " bytes of memory, not more than the reserve of ", kCudaDeviceReserveBytes,
                 " bytes; give the budget with --gpu-memory GB");
      // Exact: a byte count below 2^53 divided by 2^30 is a double that bytes() turns back into it.
      resolved.budget.gpu_memory_gb = static_cast<double>(*total - kCudaDeviceReserveBytes) / kBytesPerGb;
      resolved.source =
          "CUDA device 0: " + gib_text(*total) + " less a reserve of " + gib_text(kCudaDeviceReserveBytes);
      return resolved;
    }
  }
  resolved.budget.gpu_memory_gb = preset_default_gb;
  (void)resolved.budget.bytes();
  std::ostringstream source;
  source << "the planner's default target of " << preset_default_gb << " GB (2^30 bytes)";
  if (exact_model_on_cuda) source << "; no CUDA device found";
  resolved.source = source.str();
  return resolved;
}

}  // namespace nnuc::planner
