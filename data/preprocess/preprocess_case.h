// Preprocessing of one case (nnunet_method.md §4.1, DefaultPreprocessor.run_case_npy), in nnU-Net's
// order: transpose -> crop to nonzero -> normalize -> resample -> class locations for foreground
// oversampling (§4.4).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/preprocess/case_source.h"
#include "data/preprocess/crop.h"
#include "data/preprocess/normalization.h"
#include "data/preprocess/resample.h"

namespace nnuc::data {

// A class to collect locations for: one label (is_region false, one entry) or a region (the union of
// its labels, in the listed order; nnU-Net keys it by the tuple).
struct ClassSpec {
  std::vector<int> labels;
  bool is_region = false;
  bool operator==(const ClassSpec& other) const { return labels == other.labels && is_region == other.is_region; }
};

// The classes nnU-Net collects: the foreground labels (all labels but background and ignore), or the
// foreground regions in region mode; with an ignore label also the region (-1, all labels...) of
// annotated voxels.
std::vector<ClassSpec> classes_for_sampling(const std::vector<int>& all_labels,
                                            const std::vector<std::vector<int>>& foreground_regions, bool has_regions,
                                            bool has_ignore_label);

// nnU-Net's sampling constants (§4.4).
constexpr std::int64_t kClassLocationSamples = 10000;
constexpr double kClassLocationMinCoverage = 0.01;
constexpr std::uint32_t kClassLocationSeed = 1234;

struct ClassLocations {
  ClassSpec key;
  std::vector<std::array<std::int32_t, 3>> voxels;  // (i0, i1, i2) in the preprocessed arrays
};

// _sample_foreground_locations (nnU-Net 2.6+): one RandomState(seed) per case, consumed class after
// class. For a class, the voxels of its labels are ordered label by label (in the listed order),
// each label's voxels in C order; total = their number. total == 0: no voxels, no draw. Otherwise
// n = max(min(10000, total), ceil(0.01 * total)) and the chosen voxels are those at
// choice(total, n, replace=False) in that order.
// requires: seg i16 (a0, a1, a2) on the host.
std::vector<ClassLocations> sample_class_locations(const Tensor& seg, const std::vector<ClassSpec>& classes,
                                                   std::uint32_t seed = kClassLocationSeed,
                                                   std::int64_t min_samples = kClassLocationSamples,
                                                   double min_coverage = kClassLocationMinCoverage);

// One configuration's preprocessing, from the plans.
struct PreprocessingPlan {
  std::array<int, 3> transpose_forward{0, 1, 2};
  // Target spacing in transposed axes: 3 values, or 2 for the 2d configuration (axis 0 then keeps the
  // case's own spacing).
  std::vector<double> target_spacing;
  std::vector<ChannelNormalization> normalization;  // one per channel
  ResamplingOptions data_resampling{3, 0, std::nullopt};
  ResamplingOptions seg_resampling{1, 0, std::nullopt};
  std::vector<ClassSpec> sampling_classes;  // see classes_for_sampling
  // false: a case without a label map gets no seg (PreprocessedCase::seg undefined), and its mask seg is
  // not resampled. Prediction without a previous stage sets it: the seg is never used there.
  bool keep_mask_seg = true;
};

struct CaseProperties {
  Spacing3 spacing{};                  // the reader's spacing, reader axis order (not transposed)
  Shape3 shape_before_cropping{};      // transposed
  BoundingBox bbox_used_for_cropping;  // transposed axes
  Shape3 shape_after_cropping_and_before_resampling{};
  Spacing3 spacing_after_resampling{};  // the target spacing actually used, transposed axes
  bool has_class_locations = false;     // false for cases without a label map
  std::vector<ClassLocations> class_locations;
  nlohmann::json reader_properties = nlohmann::json::object();
};

// The properties as JSON (case_properties_json.cpp): spacing, shape_before_cropping,
// bbox_used_for_cropping ([[begin, end] x 3]), shape_after_cropping_and_before_resampling,
// spacing_after_resampling, reader_properties. Doubles round-trip exactly. The class locations are
// not included (the preprocessed store keeps them beside its arrays). Used by the store's header and
// by CASE.json beside predicted probabilities (nnuc's stand-in for nnU-Net's CASE.pkl).
nlohmann::json case_properties_to_json(const CaseProperties& properties);
// Inverse of case_properties_to_json; unknown keys are ignored. Validates: spacings finite and > 0,
// shapes >= 1, 0 <= begin < end <= shape_before_cropping per axis, the bbox's shape equal to
// shape_after_cropping_and_before_resampling, reader_properties an object. IoError naming
// `source_for_errors`, the field and the value otherwise.
CaseProperties case_properties_from_json(const nlohmann::json& json, const std::string& source_for_errors);

struct PreprocessedCase {
  std::string identifier;
  Tensor data;  // f32 (C, b0, b1, b2)
  Tensor seg;   // i16 (b0, b1, b2); -1 outside the nonzero mask
  CaseProperties properties;
};

// Permutes the spatial axes: output axis i is input axis order[i]. (C, a0, a1, a2) or (a0, a1, a2).
Tensor transpose_spatial(const Tensor& tensor, const std::array<int, 3>& order);

// run_case_npy. A case without a label map gets seg = 0 inside the nonzero mask and -1 outside (also
// resampled; none when !plan.keep_mask_seg) and no class locations.
// requires: input.image f32 (C, a0, a1, a2) with C == plan.normalization.size(); input.seg undefined
// or i16 (a0, a1, a2); target spacing of 2 or 3 positive values.
PreprocessedCase preprocess_case(const LoadedCase& input, const PreprocessingPlan& plan);

}  // namespace nnuc::data
