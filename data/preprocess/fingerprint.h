// The dataset fingerprint (nnunet_method.md §2): per-case analysis after cropping to the nonzero
// region, dataset-level foreground intensity statistics, and dataset_fingerprint.json with nnU-Net's
// keys.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/preprocess/case_source.h"
#include "data/preprocess/crop.h"
#include "data/preprocess/driver.h"
#include "data/preprocess/normalization.h"
#include "data/preprocess/resample.h"

namespace nnuc::data {

// nnU-Net pools 1e8 foreground intensity samples per channel over the dataset.
constexpr double kFingerprintForegroundSamples = 1e8;
// The seed of the per-case sampling generator (np.random.RandomState(1234), fresh per case).
constexpr std::uint32_t kFingerprintSeed = 1234;

// floor(total / num_cases): the samples drawn from each case.
std::int64_t foreground_samples_per_case(std::size_t num_cases, double total = kFingerprintForegroundSamples);

struct CaseFingerprint {
  std::string identifier;
  Spacing3 spacing{};  // reader axis order (not transposed)
  Shape3 shape_before_crop{};
  Shape3 shape_after_crop{};
  double relative_size_after_cropping = 0;  // prod(after) / prod(before)
  // Per channel: `num_samples` foreground intensities drawn with replacement, or none when the case
  // has no foreground.
  std::vector<std::vector<float>> foreground_samples;
};

// nnU-Net's collect_foreground_intensities: foreground = seg > 0 (an ignore label counts, -1 and 0
// do not); one RandomState(seed) per case; for each channel in order, choice(foreground values in
// C order, num_samples, replace=True).
// requires: image f32 (C, a0, a1, a2), seg i16 (a0, a1, a2), both cropped.
std::vector<std::vector<float>> collect_foreground_intensities(const Tensor& image, const Tensor& seg,
                                                               std::int64_t num_samples,
                                                               std::uint32_t seed = kFingerprintSeed);

// analyze_case: crop_to_nonzero, then the record above.
// requires: image f32 (C, a0, a1, a2); seg i16 (a0, a1, a2) (a fingerprint needs labels).
CaseFingerprint analyze_case(const LoadedCase& input, std::int64_t num_samples);

struct DatasetFingerprint {
  std::vector<Spacing3> spacings;
  std::vector<Shape3> shapes_after_crop;
  std::vector<IntensityProperties> foreground_intensity_properties_per_channel;
  double median_relative_size_after_cropping = 0;
};

// Dataset statistics of one channel's pooled samples (float32, numpy semantics, see numpy_stats.h):
// mean, median, std (ddof 0), min, max, percentile 0.5 and 99.5.
// requires: samples non-empty. Reorders `samples`.
IntensityProperties intensity_statistics(std::vector<float>& samples);

// Pools the cases' samples per channel (in case order) and summarizes them.
// requires: at least one case; equal channel counts; some foreground in every channel.
DatasetFingerprint summarize_fingerprint(const std::vector<CaseFingerprint>& cases);

// Loads and analyzes num_cases cases on a thread pool (each case draws
// foreground_samples_per_case(num_cases, total_samples) samples per channel) and summarizes them.
DatasetFingerprint extract_fingerprint(std::size_t num_cases, const CaseLoader& load, const RunOptions& run = {},
                                       double total_samples = kFingerprintForegroundSamples);

// dataset_fingerprint.json: {"foreground_intensity_properties_per_channel": {"0": {"max", "mean",
// "median", "min", "percentile_00_5", "percentile_99_5", "std"}, ...}, "median_relative_size_after_cropping",
// "shapes_after_crop": [[n0, n1, n2], ...], "spacings": [[s0, s1, s2], ...]} (keys sorted, as nnU-Net's
// save_json writes them).
nlohmann::json fingerprint_to_json(const DatasetFingerprint& fingerprint);
// {"0": {"max", "mean", "median", "min", "percentile_00_5", "percentile_99_5", "std"}, ...} in that
// key order: the fingerprint's entry, which the plans repeat verbatim.
nlohmann::ordered_json intensity_properties_to_json(const std::vector<IntensityProperties>& channels);
// Reads that document back (nnU-Net's fingerprints and ours): InvalidInput naming `source`, the field,
// the value and what was expected. ensures: spacings (finite, > 0) and shapes_after_crop (ints >= 1)
// are non-empty and of equal length; every channel has the seven statistics.
// The "foreground_intensity_properties_per_channel" object alone (the fingerprint's, or the copy in
// plans.json that prediction reads), channels "0", "1", ... in order.
std::vector<IntensityProperties> intensity_properties_from_json(const nlohmann::json& channels,
                                                                const std::string& source);
DatasetFingerprint fingerprint_from_json(const nlohmann::json& document,
                                         const std::string& source = "dataset_fingerprint.json");
// Writes the JSON (indent 4) atomically; reads it back (IoError when unreadable, InvalidInput naming
// the file otherwise). The one dataset_fingerprint.json reader: preprocessing and the planner use it.
void write_fingerprint(const std::string& path, const DatasetFingerprint& fingerprint);
DatasetFingerprint read_fingerprint(const std::string& path);

}  // namespace nnuc::data
