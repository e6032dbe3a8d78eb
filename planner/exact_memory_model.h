// The exact memory model: the peak bytes of a real training step of the planned network, taken from
// a shape-only (Meta) run of that step (nn/training_step.h), compared with the memory budget.
//
// For the CUDA device (the default) the run models mixed precision (bf16 activations, f32 master
// weights and optimizer state), every convolution borrowing cuDNN workspace up to the cap, and the
// prediction adds kCudaFixedOverheadBytes (CUDA context, cuDNN handle, kernel modules) that
// the allocator does not see. For the CPU device (tests, CPU training) activations are f32 and
// there is neither workspace nor fixed overhead: the prediction is the CPU allocator's peak.
//
// One Meta run of a default 3-D network takes milliseconds (planner/README.md has the measurement);
// the shrink loop and the batch search ask for the same (network, batch, patch) more than once, so
// results are cached per (topology, batch, patch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "kernels/core/context.h"
#include "nn/training_step.h"
#include "planner/memory_model.h"

namespace nnuc::planner {

struct ExactMemoryModelOptions {
  // The device whose memory is modelled: CUDA (bf16 activations, workspace at the cap, fixed
  // overhead) or CPU (f32 activations).
  Device device = Device::CUDA;
  std::size_t workspace_cap = kDefaultWorkspaceCap;  // cuDNN workspace cap of the modelled step
  nn::LossConfig loss;                               // region training / ignore label of the dataset
};

// The loss configuration a dataset trains with (regions, ignore label; batch Dice is the
// configuration's): region training with an ignore channel, or label training ignoring dataset.json's
// ignore label (max label + 1, which data::parse_dataset_json requires).
nn::LossConfig loss_config_for(const data::DatasetJson& dataset);

// The nn layer's U-Net for a planner topology: Plain (PlainConvUNet) or Residual (ResEnc presets),
// features, kernels, strides, convolutions (blocks) per stage, decoder convolutions, input channels,
// classes = topology.output_channels, deep supervision on. A 2-D topology becomes D = 1
// (kernel and stride 1 along D).
//   requires: topology.dim is 2 or 3 and its lists have n_stages entries.
nn::UNetConfig unet_config_for(const NetworkTopology& topology);

// A planner patch (2 or 3 entries) as the nn layer's (D, H, W); 2-D patches get D = 1.
nn::Triple patch_triple(const std::vector<std::int64_t>& patch_size);

class ExactMemoryModel : public MemoryModel {
 public:
  explicit ExactMemoryModel(ExactMemoryModelOptions options = {});
  std::string name() const override { return "exact"; }

  // breakdown(...).device_total(): allocator peak (workspace included) + the fixed overhead.
  std::uint64_t predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                     const std::vector<std::int64_t>& patch_size) const override;
  // The training step's memory with its breakdown (cached).
  nn::TrainingStepMemory breakdown(const NetworkTopology& topology, std::int64_t batch,
                                   const std::vector<std::int64_t>& patch_size) const;
  // The step that is modelled.
  nn::TrainingStepSpec step_spec(const NetworkTopology& topology, std::int64_t batch,
                                 const std::vector<std::int64_t>& patch_size) const;
  const ExactMemoryModelOptions& options() const { return options_; }

  struct Statistics {
    std::size_t meta_runs = 0;    // predictions computed by a Meta run
    std::size_t cache_hits = 0;   // predictions answered from the cache
    double meta_run_seconds = 0;  // wall time spent in Meta runs
  };
  Statistics statistics() const;

 private:
  ExactMemoryModelOptions options_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, nn::TrainingStepMemory> cache_;
  mutable Statistics statistics_;
};

// ---- The memory budget ---------------------------------------------------------------------------

// Device memory the exact model leaves unplanned when the budget comes from the CUDA device itself:
// other processes (a desktop, a monitoring agent), the allocator's fragmentation across steps of
// different shapes (validation) and the driver's own growth. The fixed overhead of nnuc's CUDA
// context is not part of it (the model predicts that).
constexpr std::uint64_t kCudaDeviceReserveBytes = std::uint64_t{1} << 30;

// Total memory of CUDA device `index` in bytes; nullopt when nnuc has no CUDA backend or no device.
std::optional<std::uint64_t> cuda_device_total_bytes(int index = 0);

struct ResolvedBudget {
  MemoryBudget budget;
  std::string source;  // for people: "--gpu-memory 24", "CUDA device 0: 79.1 GiB less 1 GiB reserve", ...
};

// The budget for planning, in GB of 2^30 bytes:
//   an explicit target (--gpu-memory)                           -> that target;
//   else the exact model modelling CUDA with a CUDA device present -> device total - reserve;
//   else                                                        -> the preset's default target
//                                                                  (nnU-Net's 8 GB for the default).
//   requires: explicit_gb, when given, finite and > 0.
ResolvedBudget resolve_memory_budget(std::optional<double> explicit_gb, bool exact_model_on_cuda,
                                     double preset_default_gb);

}  // namespace nnuc::planner
