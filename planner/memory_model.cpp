#include "planner/memory_model.h"

#include <cmath>
#include <utility>

#include "kernels/core/error.h"
#include "planner/numeric.h"

namespace nnuc::planner {

namespace {
constexpr double kBytesPerGb = 1073741824.0;  // 2^30

void check_batch(std::int64_t batch, const char* where) {
  NNUC_CHECK(batch >= 1, where, ": batch = ", batch, ", expected >= 1");
}
}  // namespace

std::uint64_t MemoryBudget::bytes() const {
  NNUC_CHECK(std::isfinite(gpu_memory_gb) && gpu_memory_gb > 0.0 && gpu_memory_gb < 1.0e9,
             "MemoryBudget: gpu_memory_gb = ", gpu_memory_gb, ", expected a finite value > 0");
  return static_cast<std::uint64_t>(gpu_memory_gb * kBytesPerGb);
}

bool MemoryModel::fits(const NetworkTopology& topology, std::int64_t batch, const std::vector<std::int64_t>& patch_size,
                       const MemoryBudget& budget) const {
  check_batch(batch, "MemoryModel::fits");
  return predicted_peak_bytes(topology, batch, patch_size) <= budget.bytes();
}

std::int64_t MemoryModel::batch_for_budget(const NetworkTopology& topology, const std::vector<std::int64_t>& patch_size,
                                           const MemoryBudget& budget, std::int64_t limit) const {
  if (limit < 1 || !fits(topology, 1, patch_size, budget)) return 0;
  // Exponential search for a batch that does not fit, then bisection; peak memory grows with batch.
  std::int64_t good = 1;
  std::int64_t bad = 0;  // 0: none found yet
  while (bad == 0) {
    const std::int64_t next = good >= limit / 2 ? limit : good * 2;
    if (next == good) return good;  // good == limit
    if (fits(topology, next, patch_size, budget)) {
      good = next;
      if (good == limit) return good;
    } else {
      bad = next;
    }
  }
  while (bad - good > 1) {
    const std::int64_t middle = good + (bad - good) / 2;
    if (fits(topology, middle, patch_size, budget)) {
      good = middle;
    } else {
      bad = middle;
    }
  }
  return good;
}

NnunetMemoryModel::NnunetMemoryModel(NnunetReference reference) : reference_(reference) {
  NNUC_CHECK(reference_.feature_maps_3d > 0 && reference_.feature_maps_2d > 0 && reference_.gigabytes > 0 &&
                 reference_.batch_3d >= 1 && reference_.batch_2d >= 1,
             "NnunetMemoryModel: reference values must be positive (3d ", reference_.feature_maps_3d, ", 2d ",
             reference_.feature_maps_2d, ", ", reference_.gigabytes, " GB, batches ", reference_.batch_3d, "/",
             reference_.batch_2d, ")");
}

std::int64_t NnunetMemoryModel::estimate(const NetworkTopology& topology,
                                         const std::vector<std::int64_t>& patch_size) const {
  return conv_feature_map_count(topology, patch_size, topology.estimate_output_channels, false);
}

double NnunetMemoryModel::reference_value(int dim, const MemoryBudget& budget) const {
  const double count = dim == 2 ? reference_.feature_maps_2d : reference_.feature_maps_3d;
  return count * (budget.gpu_memory_gb / reference_.gigabytes);
}

int NnunetMemoryModel::reference_batch(int dim) const { return dim == 2 ? reference_.batch_2d : reference_.batch_3d; }

std::uint64_t NnunetMemoryModel::predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                                      const std::vector<std::int64_t>& patch_size) const {
  check_batch(batch, "NnunetMemoryModel::predicted_peak_bytes");
  const double count = topology.dim == 2 ? reference_.feature_maps_2d : reference_.feature_maps_3d;
  const double per_sample = static_cast<double>(estimate(topology, patch_size)) / reference_batch(topology.dim);
  return static_cast<std::uint64_t>(
      std::llround(per_sample * static_cast<double>(batch) * (reference_.gigabytes * kBytesPerGb / count)));
}

bool NnunetMemoryModel::fits(const NetworkTopology& topology, std::int64_t batch,
                             const std::vector<std::int64_t>& patch_size, const MemoryBudget& budget) const {
  check_batch(batch, "NnunetMemoryModel::fits");
  const double e = static_cast<double>(estimate(topology, patch_size));
  const double r = reference_value(topology.dim, budget);
  const int reference_batch_size = reference_batch(topology.dim);
  // The two forms of nnU-Net's loop conditions: `estimate > reference` (ResEnc planners) and
  // `estimate / ref_bs * 2 > reference` (default planner); kept apart because E / B * B may differ
  // from E in the last bit.
  if (batch == reference_batch_size) return !(e > r);
  return !(e / reference_batch_size * static_cast<double>(batch) > r);
}

std::int64_t NnunetMemoryModel::batch_for_budget(const NetworkTopology& topology,
                                                 const std::vector<std::int64_t>& patch_size,
                                                 const MemoryBudget& budget, std::int64_t /*limit*/) const {
  const double e = static_cast<double>(estimate(topology, patch_size));
  const double r = reference_value(topology.dim, budget);
  return round_half_even_to_int(r / e * reference_batch(topology.dim));
}

CallbackMemoryModel::CallbackMemoryModel(std::string name, PeakBytesFunction peak_bytes)
    : name_(std::move(name)), peak_bytes_(std::move(peak_bytes)) {
  NNUC_CHECK(!name_.empty(), "CallbackMemoryModel: empty model name");
  NNUC_CHECK(static_cast<bool>(peak_bytes_), "CallbackMemoryModel \"", name_, "\": no peak-bytes function given");
}

std::uint64_t CallbackMemoryModel::predicted_peak_bytes(const NetworkTopology& topology, std::int64_t batch,
                                                        const std::vector<std::int64_t>& patch_size) const {
  check_batch(batch, "CallbackMemoryModel::predicted_peak_bytes");
  return peak_bytes_(topology, batch, patch_size);
}

}  // namespace nnuc::planner
