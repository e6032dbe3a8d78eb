// Intensity normalization schemes (nnunet_method.md §4.2, §3.10), per channel and per case, applied
// after cropping and before resampling. Computed in float32 exactly as nnU-Net's numpy code does
// (statistics as in data/preprocess/numpy_stats.h; eps = 1e-8):
//   ZScore, use_mask_for_norm: mask = seg >= 0; m, s = mean, std (float32) of the masked voxels;
//                              masked x <- float32(x - m) / d with d = s, or float32(1e-8) when
//                              s < 1e-8; voxels outside the mask keep their value. No masked voxel:
//                              nothing changes.
//   ZScore, no mask:           the same over all voxels.
//   CT:                        x <- clip(x, float32(p00_5), float32(p99_5)); x <- float32(x -
//                              float32(mean)); x <- x / float32(max(std, 1e-8)); fingerprint values.
//   NoNormalization:           unchanged (float32 already).
//   RescaleTo01:               x <- x - min(x); x <- x / max(max(x), float32(1e-8)).
//   RGBTo01:                   requires 0 <= x <= 255; x <- x / 255.
#pragma once

#include <string>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::data {

enum class NormalizationScheme { CT, ZScore, NoNormalization, RescaleTo01, RGBTo01 };

// nnU-Net's class names: "CTNormalization", "ZScoreNormalization", "NoNormalization",
// "RescaleTo01Normalization", "RGBTo01Normalization".
const char* normalization_scheme_name(NormalizationScheme scheme);
// Inverse of normalization_scheme_name; InvalidInput naming the value for anything else.
NormalizationScheme normalization_scheme_from_name(const std::string& name);
// The planner's choice from a dataset.json channel name (case-folded): "ct", "nonorm", "zscore",
// "rescale_to_0_1", "rgb_to_0_1"; anything else is ZScore.
NormalizationScheme normalization_scheme_for_channel_name(const std::string& channel_name);
// Only ZScore leaves voxels outside the mask at zero (the planner's use_mask_for_norm rule).
bool leaves_outside_mask_at_zero(NormalizationScheme scheme);

// Fingerprint statistics of one channel's foreground intensities (§2.3).
struct IntensityProperties {
  double mean = 0, median = 0, std = 0, min = 0, max = 0, percentile_00_5 = 0, percentile_99_5 = 0;
};

struct ChannelNormalization {
  NormalizationScheme scheme = NormalizationScheme::ZScore;
  bool use_mask_for_norm = false;
  IntensityProperties intensity;  // used by CT only
};

// Normalizes one channel in place. `seg` (the cropped label map, -1 outside the nonzero mask) is read
// only by ZScore with use_mask_for_norm; it may be null otherwise.
// requires: values and seg hold `count` voxels.
void normalize_channel(float* values, const std::int16_t* seg, std::int64_t count,
                       const ChannelNormalization& normalization);

// Normalizes every channel of `image` in place with its own scheme.
// requires: image f32 (C, a0, a1, a2) on the host; seg i16 (a0, a1, a2); channels.size() == C.
void normalize(Tensor& image, const Tensor& seg, const std::vector<ChannelNormalization>& channels);

}  // namespace nnuc::data
