// Memory models: how the planner decides whether a (network, batch, patch) training step fits the
// GPU memory budget, and how large a batch the budget allows (spec §3.6, §3.7 steps 4-7).
//
// Two models plug into the same rules:
//   nnunet  nnU-Net's own: the feature-map count of the network for one patch, compared with
//           reference counts that nnU-Net calibrated for a reference GPU size and batch, scaled
//           linearly by the GPU memory target. With it, plans equal nnU-Net's field for field.
//   exact   the peak bytes of a shape-only (Meta) run of a real training step of the nn layer
//           (ExactMemoryModel, planner/exact_memory_model.h).
//
// Budgets are given in nnU-Net's unit, "GB" of GPU memory (gpu_memory_target_in_gb); nnuc reads a GB
// as 2^30 bytes (GPU memory sizes are powers of two), which only matters for byte-based models.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "planner/topology.h"

namespace nnuc::planner {

struct MemoryBudget {
  double gpu_memory_gb = 8.0;  // nnU-Net's gpu_memory_target_in_gb
  // gpu_memory_gb * 2^30, rounded down.
  std::uint64_t bytes() const;
};

class MemoryModel {
 public:
  virtual ~MemoryModel() = default;
  // "nnunet", "exact", ...: recorded in the plans.
  virtual std::string name() const = 0;

  // Predicted peak memory (bytes) of one training step of `topology` at `batch` x `patch_size`.
  //   requires: batch >= 1; patch_size has topology.dim entries.
  virtual std::uint64_t predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                             const std::vector<std::int64_t>& patch_size) const = 0;

  // Whether a training step at `batch` fits the budget. The planner shrinks the patch until this
  // holds for its shrink batch (2; ResEnc presets: the reference batch). Default: peak <= bytes.
  virtual bool fits(const NetworkTopology& topology, std::int64_t batch, const std::vector<std::int64_t>& patch_size,
                    const MemoryBudget& budget) const;

  // The batch size the budget allows for this network and patch. The planner then takes
  // max(min(result, limit), 2), `limit` being the dataset-coverage cap, so a model may return any
  // value >= limit when `limit` fits. Default: the largest b in [1, limit] with fits(b) (0 if none),
  // found with O(log limit) calls of fits().
  virtual std::int64_t batch_for_budget(const NetworkTopology& topology, const std::vector<std::int64_t>& patch_size,
                                        const MemoryBudget& budget, std::int64_t limit) const;
};

// nnU-Net's reference calibration: `feature_maps_3d` (2d) feature maps per sample at batch
// `batch_3d` (2d) use `gigabytes` of GPU memory.
struct NnunetReference {
  double feature_maps_3d = 560000000.0;
  double feature_maps_2d = 85000000.0;
  double gigabytes = 8.0;
  int batch_3d = 2;
  int batch_2d = 12;
};

// nnU-Net's estimate (spec §3.6/3.7). With E = conv_feature_map_count(topology, patch,
// topology.estimate_output_channels, deep supervision off), B_ref = reference batch of the dim and
// R = reference count of the dim * (gpu_memory_gb / reference gigabytes), evaluated in float64
// exactly as nnU-Net does:
//   fits(batch):            batch == B_ref ? E > R : E / B_ref * batch > R   -> negated
//   batch_for_budget:       round_half_even(R / E * B_ref)
//   predicted_peak_bytes:   E * batch / B_ref * (reference gigabytes * 2^30 / reference count)
class NnunetMemoryModel : public MemoryModel {
 public:
  explicit NnunetMemoryModel(NnunetReference reference = {});
  std::string name() const override { return "nnunet"; }
  std::uint64_t predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                     const std::vector<std::int64_t>& patch_size) const override;
  bool fits(const NetworkTopology& topology, std::int64_t batch, const std::vector<std::int64_t>& patch_size,
            const MemoryBudget& budget) const override;
  std::int64_t batch_for_budget(const NetworkTopology& topology, const std::vector<std::int64_t>& patch_size,
                                const MemoryBudget& budget, std::int64_t limit) const override;

  // The feature-map estimate E of the topology for one patch (nnU-Net's static_estimate_VRAM_usage).
  std::int64_t estimate(const NetworkTopology& topology, const std::vector<std::int64_t>& patch_size) const;
  // R: the reference count of topology.dim scaled to the budget.
  double reference_value(int dim, const MemoryBudget& budget) const;
  int reference_batch(int dim) const;
  const NnunetReference& reference() const { return reference_; }

 private:
  NnunetReference reference_;
};

// A model given by a function returning the predicted peak bytes: how the exact (Meta dry-run)
// model of the nn layer plugs in without the planner depending on nn.
using PeakBytesFunction = std::function<std::uint64_t(const NetworkTopology& topology, std::int64_t batch,
                                                      const std::vector<std::int64_t>& patch_size)>;

class CallbackMemoryModel : public MemoryModel {
 public:
  // requires: peak_bytes callable; name non-empty.
  CallbackMemoryModel(std::string name, PeakBytesFunction peak_bytes);
  std::string name() const override { return name_; }
  std::uint64_t predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                     const std::vector<std::int64_t>& patch_size) const override;

 private:
  std::string name_;
  PeakBytesFunction peak_bytes_;
};

}  // namespace nnuc::planner
