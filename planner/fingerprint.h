// The inputs of planning: the subset of dataset.json the planner reads, and the dataset fingerprint
// (nnUNet_preprocessed/DatasetXXX/dataset_fingerprint.json, spec §2.4).
//
// Parsing validates at the door: every error is an nnuc::InvalidInput (or IoError for unreadable
// files) whose message names the file, the field, the offending value and what was expected.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnuc::planner {

// What the planner needs from dataset.json (spec §1.3).
struct DatasetDescription {
  // Values of "channel_names" (legacy: "modality") in file order; one per input channel. The
  // case-folded name selects the normalization scheme (spec §3.10).
  std::vector<std::string> channel_names;
  // Number of entries of "labels" (background, ignore and each region count once). nnU-Net's
  // feature-map estimate uses this as its class count (spec §12.5).
  int num_label_entries = 0;
  // Output channels of the network (spec §5.1): all labels without ignore, or the foreground regions.
  int num_output_channels = 0;
  bool has_regions = false;
  bool has_ignore_label = false;
  std::int64_t num_training = 0;
  std::string file_ending;
  // "overwrite_image_reader_writer", empty when absent or "None".
  std::string overwrite_image_reader_writer;
};

// Dataset fingerprint (spec §2.4). Per-case arrays are in reader axis order (not transposed).
struct Fingerprint {
  std::vector<std::array<double, 3>> spacings;                // one per training case, > 0
  std::vector<std::array<std::int64_t, 3>> shapes_after_crop;  // one per training case, >= 1
  double median_relative_size_after_cropping = 1.0;
  // Copied verbatim (key order kept) into the plans.
  nlohmann::ordered_json foreground_intensity_properties_per_channel = nlohmann::ordered_json::object();
};

// Parse a dataset.json document. `source` names the file in error messages.
DatasetDescription parse_dataset_json(const nlohmann::ordered_json& document, const std::string& source);
DatasetDescription load_dataset_json(const std::filesystem::path& path);

// Parse a dataset_fingerprint.json document. `source` names the file in error messages.
//   ensures: spacings and shapes_after_crop are non-empty, of equal length, 3 entries each.
Fingerprint parse_fingerprint(const nlohmann::ordered_json& document, const std::string& source);
Fingerprint load_fingerprint(const std::filesystem::path& path);

// Reads and parses a JSON file (IoError when unreadable, InvalidInput when not JSON).
nlohmann::ordered_json read_json_file(const std::filesystem::path& path);

}  // namespace nnuc::planner
