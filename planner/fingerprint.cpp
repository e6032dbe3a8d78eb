#include "planner/fingerprint.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "kernels/core/error.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

std::string shown(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

const Json& require_field(const Json& document, const std::string& key, const std::string& source) {
  NNUC_CHECK(document.is_object(), source, ": expected a JSON object at the top level, got ", shown(document));
  const auto it = document.find(key);
  NNUC_CHECK(it != document.end(), source, ": required field \"", key, "\" is missing");
  return *it;
}

bool is_integral_number(const Json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double v = value.get<double>();
  return std::isfinite(v) && std::floor(v) == v;
}

// Every label id of one "labels" entry: an int or a non-empty list of ints.
std::vector<std::int64_t> label_ids(const Json& value, const std::string& where) {
  std::vector<std::int64_t> ids;
  if (value.is_array()) {
    NNUC_CHECK(!value.empty(), where, " is an empty list; expected an int or a non-empty list of ints");
    for (const auto& item : value) {
      NNUC_CHECK(is_integral_number(item), where, " = ", shown(value), ": expected an int or a list of ints");
      ids.push_back(item.get<std::int64_t>());
    }
  } else {
    NNUC_CHECK(is_integral_number(value), where, " = ", shown(value), ": expected an int or a list of ints");
    ids.push_back(value.get<std::int64_t>());
  }
  return ids;
}

std::array<double, 3> three_numbers(const Json& entry, const std::string& where) {
  NNUC_CHECK(entry.is_array() && entry.size() == 3, where, " = ", shown(entry), ": expected a list of 3 numbers");
  std::array<double, 3> out{};
  for (std::size_t a = 0; a < 3; ++a) {
    NNUC_CHECK(entry[a].is_number(), where, " = ", shown(entry), ": entry ", a, " is not a number");
    out[a] = entry[a].get<double>();
  }
  return out;
}

}  // namespace

nlohmann::ordered_json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) NNUC_THROW(IoError, path.string(), ": cannot open the file for reading");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return Json::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    NNUC_THROW(InvalidInput, path.string(), ": not valid JSON (", e.what(), ")");
  }
}

DatasetDescription parse_dataset_json(const Json& document, const std::string& source) {
  NNUC_CHECK(document.is_object(), source, ": expected a JSON object at the top level, got ", shown(document));
  DatasetDescription out;

  const bool has_channel_names = document.contains("channel_names");
  const std::string channel_key = has_channel_names ? "channel_names" : "modality";
  NNUC_CHECK(has_channel_names || document.contains("modality"), source,
             ": required field \"channel_names\" is missing (nor is the legacy \"modality\" present)");
  const Json& channels = document.at(channel_key);
  NNUC_CHECK(channels.is_object() && !channels.empty(), source, ": field \"", channel_key, "\" = ", shown(channels),
             ": expected a non-empty object {\"0\": \"CT\", ...}");
  std::set<std::string> expected_keys;
  for (std::size_t c = 0; c < channels.size(); ++c) expected_keys.insert(std::to_string(c));
  for (const auto& [key, name] : channels.items()) {
    NNUC_CHECK(expected_keys.count(key) == 1, source, ": field \"", channel_key, "\" has key \"", key,
               "\"; expected the channel indices 0..", channels.size() - 1);
    NNUC_CHECK(name.is_string(), source, ": field \"", channel_key, "\".\"", key, "\" = ", shown(name),
               ": expected a string (the channel name)");
    out.channel_names.push_back(name.get<std::string>());
  }

  const Json& labels = require_field(document, "labels", source);
  NNUC_CHECK(labels.is_object() && !labels.empty(), source, ": field \"labels\" = ", shown(labels),
             ": expected a non-empty object {\"background\": 0, ...}");
  NNUC_CHECK(labels.contains("background"), source, ": field \"labels\" has no \"background\" entry");
  const Json& background = labels.at("background");
  NNUC_CHECK(is_integral_number(background) && background.get<std::int64_t>() == 0, source,
             ": field \"labels\".\"background\" = ", shown(background), ": expected the int 0");
  std::set<std::int64_t> all_labels;
  std::int64_t ignore_label = -1;
  int foreground_regions = 0;
  for (const auto& [name, value] : labels.items()) {
    const std::string where = source + ": field \"labels\".\"" + name + "\"";
    const std::vector<std::int64_t> ids = label_ids(value, where);
    for (std::int64_t id : ids) NNUC_CHECK(id >= 0, where, " = ", shown(value), ": label ids must be >= 0");
    if (ids.size() > 1) out.has_regions = true;
    if (name == "ignore") {
      NNUC_CHECK(!value.is_array(), where, " = ", shown(value), ": the ignore label must be a single int");
      ignore_label = ids[0];
      continue;
    }
    if (name != "background") ++foreground_regions;
    all_labels.insert(ids.begin(), ids.end());
  }
  out.num_label_entries = static_cast<int>(labels.size());
  out.has_ignore_label = ignore_label >= 0;
  if (out.has_ignore_label) {
    NNUC_CHECK(ignore_label == *all_labels.rbegin() + 1, source, ": field \"labels\".\"ignore\" = ", ignore_label,
               ": expected max(all labels) + 1 = ", *all_labels.rbegin() + 1);
  }
  out.num_output_channels = out.has_regions ? foreground_regions : static_cast<int>(all_labels.size());

  const Json& num_training = require_field(document, "numTraining", source);
  NNUC_CHECK(is_integral_number(num_training) && num_training.get<std::int64_t>() > 0, source,
             ": field \"numTraining\" = ", shown(num_training), ": expected a positive int");
  out.num_training = num_training.get<std::int64_t>();

  const Json& file_ending = require_field(document, "file_ending", source);
  NNUC_CHECK(file_ending.is_string() && !file_ending.get<std::string>().empty(), source,
             ": field \"file_ending\" = ", shown(file_ending), ": expected a non-empty string such as \".nii.gz\"");
  out.file_ending = file_ending.get<std::string>();

  if (document.contains("overwrite_image_reader_writer")) {
    const Json& rw = document.at("overwrite_image_reader_writer");
    NNUC_CHECK(rw.is_string(), source, ": field \"overwrite_image_reader_writer\" = ", shown(rw),
               ": expected a class name string");
    if (rw.get<std::string>() != "None") out.overwrite_image_reader_writer = rw.get<std::string>();
  }
  return out;
}

DatasetDescription load_dataset_json(const std::filesystem::path& path) {
  return parse_dataset_json(read_json_file(path), path.string());
}

Fingerprint parse_fingerprint(const Json& document, const std::string& source) {
  Fingerprint out;
  const Json& spacings = require_field(document, "spacings", source);
  NNUC_CHECK(spacings.is_array() && !spacings.empty(), source, ": field \"spacings\" = ", shown(spacings),
             ": expected a non-empty list with one [s0, s1, s2] per training case");
  for (std::size_t i = 0; i < spacings.size(); ++i) {
    const std::string where = source + ": field \"spacings\"[" + std::to_string(i) + "]";
    const std::array<double, 3> s = three_numbers(spacings[i], where);
    for (double v : s) {
      NNUC_CHECK(std::isfinite(v) && v > 0.0, where, " = ", shown(spacings[i]),
                 ": expected finite spacings > 0");
    }
    out.spacings.push_back(s);
  }

  const Json& shapes = require_field(document, "shapes_after_crop", source);
  NNUC_CHECK(shapes.is_array(), source, ": field \"shapes_after_crop\" = ", shown(shapes),
             ": expected a list with one [n0, n1, n2] per training case");
  NNUC_CHECK(shapes.size() == spacings.size(), source, ": field \"shapes_after_crop\" has ", shapes.size(),
             " entries but \"spacings\" has ", spacings.size(), "; expected one of each per training case");
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const std::string where = source + ": field \"shapes_after_crop\"[" + std::to_string(i) + "]";
    NNUC_CHECK(shapes[i].is_array() && shapes[i].size() == 3, where, " = ", shown(shapes[i]),
               ": expected a list of 3 ints");
    std::array<std::int64_t, 3> shape{};
    for (std::size_t a = 0; a < 3; ++a) {
      const Json& v = shapes[i][a];
      NNUC_CHECK(is_integral_number(v) && v.get<double>() >= 1.0, where, " = ", shown(shapes[i]),
                 ": expected 3 ints >= 1 (voxels)");
      shape[a] = v.get<std::int64_t>();
    }
    out.shapes_after_crop.push_back(shape);
  }

  const Json& relative = require_field(document, "median_relative_size_after_cropping", source);
  NNUC_CHECK(relative.is_number() && std::isfinite(relative.get<double>()) && relative.get<double>() >= 0.0,
             source, ": field \"median_relative_size_after_cropping\" = ", shown(relative),
             ": expected a number >= 0");
  out.median_relative_size_after_cropping = relative.get<double>();

  const Json& intensity = require_field(document, "foreground_intensity_properties_per_channel", source);
  NNUC_CHECK(intensity.is_object(), source, ": field \"foreground_intensity_properties_per_channel\" = ",
             shown(intensity), ": expected an object {\"0\": {\"mean\": ..., ...}, ...}");
  out.foreground_intensity_properties_per_channel = intensity;
  return out;
}

Fingerprint load_fingerprint(const std::filesystem::path& path) {
  return parse_fingerprint(read_json_file(path), path.string());
}

}  // namespace nnuc::planner
