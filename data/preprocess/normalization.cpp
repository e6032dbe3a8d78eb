#include "data/preprocess/normalization.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "data/preprocess/numpy_stats.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

constexpr double kEps = 1e-8;

// Python's max(std, 1e-8) with a numpy float32 std: std unless 1e-8 is larger; then the divisor is
// 1e-8 as a float32 (numpy casts the Python float to the array's dtype).
float divisor_for(float std) { return kEps > static_cast<double>(std) ? static_cast<float>(kEps) : std; }

void zscore(float* values, const std::int16_t* seg, std::int64_t count, bool use_mask) {
  if (!use_mask) {
    const float mean = numpy_mean_f32(values, static_cast<std::size_t>(count));
    const float std = numpy_std_f32(values, static_cast<std::size_t>(count));
    const float divisor = divisor_for(std);
    for (std::int64_t i = 0; i < count; ++i) values[i] = (values[i] - mean) / divisor;
    return;
  }
  NNUC_CHECK(seg != nullptr, "ZScore normalization with use_mask_for_norm needs the label map");
  std::vector<float> masked;
  for (std::int64_t i = 0; i < count; ++i)
    if (seg[i] >= 0) masked.push_back(values[i]);
  if (masked.empty()) return;  // numpy: the mean of nothing is NaN, but no voxel is written
  const float mean = numpy_mean_f32(masked.data(), masked.size());
  const float std = numpy_std_f32(masked.data(), masked.size());
  const float divisor = divisor_for(std);
  for (std::int64_t i = 0; i < count; ++i)
    if (seg[i] >= 0) values[i] = (values[i] - mean) / divisor;
}

void ct(float* values, std::int64_t count, const IntensityProperties& intensity) {
  const float lower = static_cast<float>(intensity.percentile_00_5);
  const float upper = static_cast<float>(intensity.percentile_99_5);
  const float mean = static_cast<float>(intensity.mean);
  const float divisor = static_cast<float>(std::max(intensity.std, kEps));
  for (std::int64_t i = 0; i < count; ++i) {
    float x = values[i];
    if (!std::isnan(x)) x = std::min(std::max(x, lower), upper);  // np.clip = min(max(x, lo), hi)
    x = x - mean;
    values[i] = x / divisor;
  }
}

void rescale_to_01(float* values, std::int64_t count) {
  if (count == 0) return;
  const float minimum = *std::min_element(values, values + count);
  for (std::int64_t i = 0; i < count; ++i) values[i] = values[i] - minimum;
  const float maximum = *std::max_element(values, values + count);
  const float divisor = std::max(maximum, static_cast<float>(kEps));
  for (std::int64_t i = 0; i < count; ++i) values[i] = values[i] / divisor;
}

void rgb_to_01(float* values, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) {
    NNUC_CHECK(values[i] >= 0.0f && values[i] <= 255.0f,
               "RGBTo01Normalization requires intensities in [0, 255], found ", values[i], " at voxel ", i);
  }
  for (std::int64_t i = 0; i < count; ++i) values[i] = values[i] / 255.0f;
}

}  // namespace

const char* normalization_scheme_name(NormalizationScheme scheme) {
  switch (scheme) {
    case NormalizationScheme::CT: return "CTNormalization";
    case NormalizationScheme::ZScore: return "ZScoreNormalization";
    case NormalizationScheme::NoNormalization: return "NoNormalization";
    case NormalizationScheme::RescaleTo01: return "RescaleTo01Normalization";
    case NormalizationScheme::RGBTo01: return "RGBTo01Normalization";
  }
  return "?";
}

NormalizationScheme normalization_scheme_from_name(const std::string& name) {
  for (NormalizationScheme scheme :
       {NormalizationScheme::CT, NormalizationScheme::ZScore, NormalizationScheme::NoNormalization,
        NormalizationScheme::RescaleTo01, NormalizationScheme::RGBTo01}) {
    if (name == normalization_scheme_name(scheme)) return scheme;
  }
  NNUC_THROW(InvalidInput, "unknown normalization scheme '", name,
             "' (expected CTNormalization, ZScoreNormalization, NoNormalization, RescaleTo01Normalization or "
             "RGBTo01Normalization)");
}

NormalizationScheme normalization_scheme_for_channel_name(const std::string& channel_name) {
  std::string folded = channel_name;
  std::transform(folded.begin(), folded.end(), folded.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (folded == "ct") return NormalizationScheme::CT;
  if (folded == "nonorm") return NormalizationScheme::NoNormalization;
  if (folded == "zscore") return NormalizationScheme::ZScore;
  if (folded == "rescale_to_0_1") return NormalizationScheme::RescaleTo01;
  if (folded == "rgb_to_0_1") return NormalizationScheme::RGBTo01;
  return NormalizationScheme::ZScore;
}

bool leaves_outside_mask_at_zero(NormalizationScheme scheme) { return scheme == NormalizationScheme::ZScore; }

void normalize_channel(float* values, const std::int16_t* seg, std::int64_t count,
                       const ChannelNormalization& normalization) {
  NNUC_CHECK(count >= 0, "normalize_channel: negative voxel count ", count);
  switch (normalization.scheme) {
    case NormalizationScheme::ZScore: zscore(values, seg, count, normalization.use_mask_for_norm); return;
    case NormalizationScheme::CT: ct(values, count, normalization.intensity); return;
    case NormalizationScheme::NoNormalization: return;
    case NormalizationScheme::RescaleTo01: rescale_to_01(values, count); return;
    case NormalizationScheme::RGBTo01: rgb_to_01(values, count); return;
  }
}

void normalize(Tensor& image, const Tensor& seg, const std::vector<ChannelNormalization>& channels) {
  check_dtype(image, DType::f32, "image");
  NNUC_CHECK(image.device() == Device::CPU && image.rank() == 4, "image must be a host (C, a0, a1, a2) tensor, got ",
             image.describe());
  NNUC_CHECK(static_cast<std::int64_t>(channels.size()) == image.dim(0), "normalize: ", channels.size(),
             " channel schemes for an image with ", image.dim(0), " channels");
  const std::int64_t count = image.dim(1) * image.dim(2) * image.dim(3);
  const std::int16_t* labels = nullptr;
  if (seg.defined()) {
    check_dtype(seg, DType::i16, "seg");
    check_shape(seg, Shape{image.dim(1), image.dim(2), image.dim(3)}, "seg");
    labels = seg.data<std::int16_t>();
  }
  for (std::size_t c = 0; c < channels.size(); ++c) {
    NNUC_CHECK(
        labels != nullptr || !(channels[c].scheme == NormalizationScheme::ZScore && channels[c].use_mask_for_norm),
        "normalize: channel ", c, " uses the mask for normalization but no label map was given");
    normalize_channel(image.data<float>() + static_cast<std::int64_t>(c) * count, labels, count, channels[c]);
  }
}

}  // namespace nnuc::data
