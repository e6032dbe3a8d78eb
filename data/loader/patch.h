// Patch sampling for training and validation batches (nnunet_method.md §7.1, §7.2; nnU-Net's
// nnUNetDataLoader.get_bbox and nnUNetTrainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size).
//
// Axes are the preprocessed arrays' spatial axes (a0, a1, a2). 2-D configurations sample the 3-D
// preprocessed volume with the patch (1, p1, p2), so a random slice along axis 0 is drawn.
//
// Randomness: every draw for batch element `element` of batch `iteration` comes from one
// PhiloxDraws(philox_key(seed, stream), iteration, element, 0), consumed in this order: the case, then
// (forced or ignore-label elements) the class and the stored voxel, or (otherwise) one corner
// coordinate per axis. A batch is therefore a pure function of (seed, stream, iteration).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "data/preprocess/crop.h"
#include "data/preprocess/preprocess_case.h"
#include "kernels/core/philox.h"

namespace nnuc::data {

// nnU-Net's constants (§7.1, §7.2).
constexpr double kOversampleForeground = 0.33;
constexpr std::array<double, 2> kPatchScaleRange = {0.85, 1.25};

// What §7.2 derives from the plan's patch size.
struct AugmentationGeometry {
  // Rotation range per spatial axis in radians: angles are drawn in [-r, r]. nnU-Net uses one range
  // for all axes (3-D: 180° with dummy-2D, else 30°; 2-D: 15° if max(P)/min(P) > 1.5, else 180°).
  // 2-D configurations hold 3 equal values too; only the first is used.
  std::array<double, 3> rotation_range{};
  bool dummy_2d = false;         // 3-D only: max(P) / P[0] > 3 (ANISO_THRESHOLD)
  std::vector<int> mirror_axes;  // (0, 1, 2) for 3-D patches, (0, 1) for 2-D patches
};

// requires: patch has 2 or 3 positive values (the plan's patch size).
AugmentationGeometry rotation_and_dummy_2d(const std::vector<std::int64_t>& patch);

// P_load = get_patch_size(P, rot, rot, rot, scale_range): θ = min(max |rotation_range|, 90°) per axis;
// 3-D: elementwise max of P, |P·Rx(θx)|, |P·Ry(θy)|, |P·Rz(θz)|; 2-D: max of P and |P·R2(θx)|;
// divided by min(scale_range), truncated. With dummy_2d, P_load[0] = P[0]. (Appendix A.4.)
// requires: patch has 2 or 3 positive values; scale_range values positive.
std::vector<std::int64_t> enlarged_patch_size(const std::vector<std::int64_t>& patch,
                                              const std::array<double, 3>& rotation_range, bool dummy_2d,
                                              const std::array<double, 2>& scale_range = kPatchScaleRange);

// A plan patch as the 3-D patch the sampler uses: (p0, p1, p2) unchanged, (p1, p2) -> (1, p1, p2).
Shape3 sampling_patch(const std::vector<std::int64_t>& patch);

// Whether element `element` (0-based) of a batch of `batch_size` is foreground-forced:
// element >= round(batch_size · (1 − oversample)), round half to even as Python's round().
// (Appendix A.9: B = 9 -> elements 6, 7, 8.)
bool foreground_forced(std::int64_t element, std::int64_t batch_size, double oversample = kOversampleForeground);

// One data-parallel rank's share of a global batch (§6.11, nnUNetTrainer._set_batch_size_and_oversample).
struct RankBatch {
  std::int64_t batch_size = 0;       // B // W, +1 for the first B mod W ranks
  std::int64_t first_element = 0;    // index of this rank's first element in the global batch
  double oversample_foreground = 0;  // the per-rank fraction nnU-Net derives
  std::vector<bool> forced;          // per local element: local >= round(b · (1 − fraction))
};
// requires: world_size >= 1, 0 <= rank < world_size, global_batch_size >= world_size.
// ensures: concatenating `forced` over the ranks gives foreground_forced(j, B, oversample) for the
// global elements j (the global "last 33 %" rule; tested for every B <= 64, W <= B).
RankBatch rank_batch(std::int64_t global_batch_size, int world_size, int rank,
                     double oversample = kOversampleForeground);

// need_to_pad, and the range [lb, ub] of the patch's lower corner, per axis (§7.1):
// n = P_load − P_final, raised to P_load − shape where shape + n < P_load; lb = floor(−n / 2),
// ub = shape + ceil(n / 2) − P_load (Python's floor division). Always lb <= ub.
struct PatchBounds {
  Shape3 need_to_pad{};
  Shape3 lower{};  // lb
  Shape3 upper{};  // ub (inclusive)
};
// requires: all sizes positive.
PatchBounds padding_and_bounds(const Shape3& case_shape, const Shape3& patch_load, const Shape3& patch_final);

struct SamplerSettings {
  Shape3 patch_load{};   // P_load: the size of the crop (2-D: (1, p1, p2))
  Shape3 patch_final{};  // P_final: the plan's patch (2-D: (1, p1, p2))
  double oversample_foreground = kOversampleForeground;
  bool has_ignore_label = false;  // non-forced patches centre on an annotated voxel
};

// What the sampler needs to know about one case.
struct CaseForSampling {
  Shape3 shape{};                                                // spatial shape (b0, b1, b2)
  const std::vector<ClassLocations>* class_locations = nullptr;  // null: none stored (random corners)
};

struct PatchChoice {
  std::size_t case_index = 0;
  Shape3 corner{};                      // lower corner; may be negative (padding)
  bool forced = false;                  // foreground-forced element
  int class_index = -1;                 // index into the case's class_locations centred on; -1: random corner
  std::array<std::int32_t, 3> voxel{};  // the stored voxel centred on (class_index >= 0)
};

// The case for one element: uniform over [0, case_count), with replacement. requires: case_count >= 1.
std::size_t draw_case(PhiloxDraws& draws, std::size_t case_count);

// The lower corner for one element of the chosen case (§7.1):
//  - forced: eligible = classes with >= 1 stored voxel, the annotated-voxels class (labels (-1, ...))
//    removed when others remain; a class uniformly, then a stored voxel v uniformly;
//    corner = max(lb, v − floor(P_load / 2)) per axis (no upper clamp);
//  - not forced, ignore label: centred the same way on a random annotated voxel;
//  - otherwise, or when no class qualifies: corner uniform in [lb, ub] per axis.
// Fills choice.corner, class_index and voxel.
void draw_corner(PhiloxDraws& draws, const SamplerSettings& settings, const CaseForSampling& sampled_case, bool forced,
                 PatchChoice& choice);

// Everything for element `element` (0-based, of the global batch) of batch `iteration`:
// PhiloxDraws(key, iteration, element, 0), draw_case, then draw_corner on describe_case(case).
// requires: iteration < 2^32, case_count >= 1.
PatchChoice draw_patch(PhiloxKey key, std::uint64_t iteration, std::int64_t element, bool forced,
                       const SamplerSettings& settings, std::size_t case_count,
                       const std::function<CaseForSampling(std::size_t case_index)>& describe_case);

// The Philox draws of one element (the counter convention above). requires: iteration < 2^32.
PhiloxDraws element_draws(PhiloxKey key, std::uint64_t iteration, std::int64_t element);

}  // namespace nnuc::data
