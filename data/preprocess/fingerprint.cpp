#include "data/preprocess/fingerprint.h"

#include <algorithm>
#include <cmath>

#include "data/dataset/atomic_file.h"
#include "data/preprocess/numpy_random.h"
#include "data/preprocess/numpy_stats.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

std::int64_t volume(const Shape3& shape) { return shape[0] * shape[1] * shape[2]; }

// A JSON value for a message, cut to 80 characters.
std::string shown(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

const nlohmann::json& require_field(const nlohmann::json& object, const char* key, const std::string& where) {
  NNUC_CHECK(object.is_object(), where, ": expected a JSON object, got ", shown(object));
  NNUC_CHECK(object.contains(key), where, ": required field \"", key, "\" is missing");
  return object.at(key);
}

double require_number(const nlohmann::json& object, const char* key, const std::string& where) {
  const nlohmann::json& value = require_field(object, key, where);
  NNUC_CHECK(value.is_number(), where, ".\"", key, "\" = ", shown(value), ": expected a number");
  return value.get<double>();
}

// An int, or a float with an integral value (what Python writes for a numpy float shape).
bool is_integral_number(const nlohmann::json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double v = value.get<double>();
  return std::isfinite(v) && std::floor(v) == v;
}

}  // namespace

std::int64_t foreground_samples_per_case(std::size_t num_cases, double total) {
  NNUC_CHECK(num_cases > 0, "foreground_samples_per_case: no cases");
  NNUC_CHECK(total >= 0, "foreground_samples_per_case: total must be >= 0, got ", total);
  return static_cast<std::int64_t>(std::floor(total / static_cast<double>(num_cases)));
}

std::vector<std::vector<float>> collect_foreground_intensities(const Tensor& image, const Tensor& seg,
                                                               std::int64_t num_samples, std::uint32_t seed) {
  check_dtype(image, DType::f32, "image");
  check_dtype(seg, DType::i16, "seg");
  NNUC_CHECK(image.rank() == 4, "image must be (C, a0, a1, a2), got ", image.describe());
  check_shape(seg, Shape{image.dim(1), image.dim(2), image.dim(3)}, "seg");
  NNUC_CHECK(num_samples >= 0, "num_samples must be >= 0, got ", num_samples);
  const std::int64_t count = seg.numel();
  const std::int16_t* labels = seg.data<std::int16_t>();
  std::vector<std::int64_t> foreground;
  for (std::int64_t i = 0; i < count; ++i)
    if (labels[i] > 0) foreground.push_back(i);
  NumpyRandomState generator(seed);
  std::vector<std::vector<float>> samples(static_cast<std::size_t>(image.dim(0)));
  if (foreground.empty()) return samples;
  for (std::int64_t c = 0; c < image.dim(0); ++c) {
    const float* channel = image.data<float>() + c * count;
    const std::vector<std::int64_t> picks = generator.choice_with_replacement(
        static_cast<std::int64_t>(foreground.size()), static_cast<std::size_t>(num_samples));
    std::vector<float>& out = samples[static_cast<std::size_t>(c)];
    out.resize(picks.size());
    for (std::size_t k = 0; k < picks.size(); ++k) out[k] = channel[foreground[static_cast<std::size_t>(picks[k])]];
  }
  return samples;
}

CaseFingerprint analyze_case(const LoadedCase& input, std::int64_t num_samples) {
  NNUC_CHECK(input.seg.defined(), "case '", input.identifier, "': the fingerprint needs a label map");
  const CropResult cropped = crop_to_nonzero(input.image, input.seg);
  CaseFingerprint result;
  result.identifier = input.identifier;
  result.spacing = input.spacing;
  result.shape_before_crop = {input.image.dim(1), input.image.dim(2), input.image.dim(3)};
  result.shape_after_crop = cropped.bbox.shape();
  result.relative_size_after_cropping =
      static_cast<double>(volume(result.shape_after_crop)) / static_cast<double>(volume(result.shape_before_crop));
  result.foreground_samples = collect_foreground_intensities(cropped.image, cropped.seg, num_samples);
  return result;
}

IntensityProperties intensity_statistics(std::vector<float>& samples) {
  NNUC_CHECK(!samples.empty(), "intensity statistics of no samples");
  IntensityProperties stats;
  stats.mean = numpy_mean_f32(samples.data(), samples.size());
  stats.std = numpy_std_f32(samples.data(), samples.size());
  const auto [low, high] = std::minmax_element(samples.begin(), samples.end());
  stats.min = *low;
  stats.max = *high;
  stats.median = numpy_median_f32(samples);
  stats.percentile_99_5 = numpy_percentile_f32(samples, 99.5);
  stats.percentile_00_5 = numpy_percentile_f32(samples, 0.5);
  return stats;
}

DatasetFingerprint summarize_fingerprint(const std::vector<CaseFingerprint>& cases) {
  NNUC_CHECK(!cases.empty(), "a fingerprint needs at least one case");
  const std::size_t channels = cases.front().foreground_samples.size();
  DatasetFingerprint fingerprint;
  std::vector<double> relative_sizes;
  for (const CaseFingerprint& c : cases) {
    NNUC_CHECK(c.foreground_samples.size() == channels, "case '", c.identifier, "' has ", c.foreground_samples.size(),
               " channels, case '", cases.front().identifier, "' has ", channels);
    fingerprint.spacings.push_back(c.spacing);
    fingerprint.shapes_after_crop.push_back(c.shape_after_crop);
    relative_sizes.push_back(c.relative_size_after_cropping);
  }
  for (std::size_t channel = 0; channel < channels; ++channel) {
    std::size_t total = 0;
    for (const CaseFingerprint& c : cases) total += c.foreground_samples[channel].size();
    NNUC_CHECK(total > 0, "channel ", channel, ": no case has foreground voxels (label > 0), so its intensity ",
               "statistics are undefined");
    std::vector<float> pooled;
    pooled.reserve(total);
    for (const CaseFingerprint& c : cases)
      pooled.insert(pooled.end(), c.foreground_samples[channel].begin(), c.foreground_samples[channel].end());
    fingerprint.foreground_intensity_properties_per_channel.push_back(intensity_statistics(pooled));
  }
  fingerprint.median_relative_size_after_cropping = numpy_median_f64(relative_sizes);
  return fingerprint;
}

DatasetFingerprint extract_fingerprint(std::size_t num_cases, const CaseLoader& load, const RunOptions& run,
                                       double total_samples) {
  NNUC_CHECK(num_cases > 0, "extract_fingerprint: no cases");
  const std::int64_t per_case = foreground_samples_per_case(num_cases, total_samples);
  std::vector<CaseFingerprint> cases(num_cases);
  std::vector<std::string> names(num_cases);
  run_cases(
      num_cases, [&](std::size_t i) { return names[i].empty() ? "#" + std::to_string(i) : names[i]; },
      [&](std::size_t i) {
        LoadedCase input = load(i);
        names[i] = input.identifier;
        cases[i] = analyze_case(input, per_case);
      },
      run);
  return summarize_fingerprint(cases);
}

nlohmann::ordered_json intensity_properties_to_json(const std::vector<IntensityProperties>& channels) {
  nlohmann::ordered_json per_channel = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < channels.size(); ++c) {
    const IntensityProperties& p = channels[c];
    nlohmann::ordered_json properties = nlohmann::ordered_json::object();
    properties["max"] = p.max;
    properties["mean"] = p.mean;
    properties["median"] = p.median;
    properties["min"] = p.min;
    properties["percentile_00_5"] = p.percentile_00_5;
    properties["percentile_99_5"] = p.percentile_99_5;
    properties["std"] = p.std;
    per_channel[std::to_string(c)] = properties;
  }
  return per_channel;
}

nlohmann::json fingerprint_to_json(const DatasetFingerprint& fingerprint) {
  nlohmann::json document = nlohmann::json::object();
  document["foreground_intensity_properties_per_channel"] =
      nlohmann::json(intensity_properties_to_json(fingerprint.foreground_intensity_properties_per_channel));
  document["median_relative_size_after_cropping"] = fingerprint.median_relative_size_after_cropping;
  nlohmann::json shapes = nlohmann::json::array();
  for (const Shape3& shape : fingerprint.shapes_after_crop) shapes.push_back({shape[0], shape[1], shape[2]});
  document["shapes_after_crop"] = shapes;
  nlohmann::json spacings = nlohmann::json::array();
  for (const Spacing3& spacing : fingerprint.spacings) spacings.push_back({spacing[0], spacing[1], spacing[2]});
  document["spacings"] = spacings;
  return document;
}

std::vector<IntensityProperties> intensity_properties_from_json(const nlohmann::json& channels,
                                                                const std::string& source) {
  std::vector<IntensityProperties> out;
  NNUC_CHECK(channels.is_object(), source,
             ": field \"foreground_intensity_properties_per_channel\" = ", shown(channels),
             ": expected an object {\"0\": {\"mean\": ..., ...}, ...}");
  for (std::size_t c = 0; c < channels.size(); ++c) {
    const std::string key = std::to_string(c);
    const std::string where = source + ": field \"foreground_intensity_properties_per_channel\".\"" + key + "\"";
    NNUC_CHECK(channels.contains(key), where, " is missing (channels must be numbered 0 .. ", channels.size() - 1, ")");
    const nlohmann::json& p = channels.at(key);
    IntensityProperties properties;
    properties.mean = require_number(p, "mean", where);
    properties.median = require_number(p, "median", where);
    properties.std = require_number(p, "std", where);
    properties.min = require_number(p, "min", where);
    properties.max = require_number(p, "max", where);
    properties.percentile_00_5 = require_number(p, "percentile_00_5", where);
    properties.percentile_99_5 = require_number(p, "percentile_99_5", where);
    out.push_back(properties);
  }
  return out;
}

DatasetFingerprint fingerprint_from_json(const nlohmann::json& document, const std::string& source) {
  DatasetFingerprint out;
  const nlohmann::json& spacings = require_field(document, "spacings", source);
  NNUC_CHECK(spacings.is_array() && !spacings.empty(), source, ": field \"spacings\" = ", shown(spacings),
             ": expected a non-empty list with one [s0, s1, s2] per training case");
  for (std::size_t i = 0; i < spacings.size(); ++i) {
    const std::string where = source + ": field \"spacings\"[" + std::to_string(i) + "]";
    const nlohmann::json& entry = spacings[i];
    NNUC_CHECK(entry.is_array() && entry.size() == 3, where, " = ", shown(entry), ": expected a list of 3 numbers");
    Spacing3 spacing{};
    for (std::size_t a = 0; a < 3; ++a) {
      NNUC_CHECK(entry[a].is_number(), where, " = ", shown(entry), ": entry ", a, " is not a number");
      spacing[a] = entry[a].get<double>();
      NNUC_CHECK(std::isfinite(spacing[a]) && spacing[a] > 0.0, where, " = ", shown(entry),
                 ": expected finite spacings > 0");
    }
    out.spacings.push_back(spacing);
  }

  const nlohmann::json& shapes = require_field(document, "shapes_after_crop", source);
  NNUC_CHECK(shapes.is_array(), source, ": field \"shapes_after_crop\" = ", shown(shapes),
             ": expected a list with one [n0, n1, n2] per training case");
  NNUC_CHECK(shapes.size() == spacings.size(), source, ": field \"shapes_after_crop\" has ", shapes.size(),
             " entries but \"spacings\" has ", spacings.size(), "; expected one of each per training case");
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const std::string where = source + ": field \"shapes_after_crop\"[" + std::to_string(i) + "]";
    const nlohmann::json& entry = shapes[i];
    NNUC_CHECK(entry.is_array() && entry.size() == 3, where, " = ", shown(entry), ": expected a list of 3 ints");
    Shape3 shape{};
    for (std::size_t a = 0; a < 3; ++a) {
      NNUC_CHECK(is_integral_number(entry[a]) && entry[a].get<double>() >= 1.0, where, " = ", shown(entry),
                 ": expected 3 ints >= 1 (voxels)");
      shape[a] = entry[a].get<std::int64_t>();
    }
    out.shapes_after_crop.push_back(shape);
  }

  const nlohmann::json& relative = require_field(document, "median_relative_size_after_cropping", source);
  NNUC_CHECK(relative.is_number() && std::isfinite(relative.get<double>()) && relative.get<double>() >= 0.0, source,
             ": field \"median_relative_size_after_cropping\" = ", shown(relative), ": expected a number >= 0");
  out.median_relative_size_after_cropping = relative.get<double>();

  out.foreground_intensity_properties_per_channel = intensity_properties_from_json(
      require_field(document, "foreground_intensity_properties_per_channel", source), source);
  return out;
}

void write_fingerprint(const std::string& path, const DatasetFingerprint& fingerprint) {
  write_file_atomic(path, fingerprint_to_json(fingerprint).dump(4) + "\n");
}

DatasetFingerprint read_fingerprint(const std::string& path) {
  const nlohmann::ordered_json document = read_json_file(path);
  return fingerprint_from_json(nlohmann::json(document), path);
}

}  // namespace nnuc::data
