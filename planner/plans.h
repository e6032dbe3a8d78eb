// Plans: what the planner decides per configuration, and the plans JSON (spec §3.9) with
// nnU-Net's field names and order, followed by nnuc's own per-configuration fields:
//   "memory_model"          name of the model that sized the configuration ("nnunet", "exact")
//   "predicted_peak_bytes"  the model's predicted peak for batch_size x patch_size
//   "memory_budget_bytes"   the GPU memory target in bytes (GB read as 2^30 bytes)
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "planner/topology.h"

namespace nnuc::planner {

// One resampling function with its kwargs (spec §4.3).
struct ResamplingSettings {
  std::string function = "resample_data_or_seg_to_shape";
  bool is_seg = false;
  int order = 3;
  int order_z = 0;
  std::optional<bool> force_separate_z;  // null in JSON when absent
};

// One trainable configuration: 2d, 3d_lowres or 3d_fullres.
struct ConfigurationPlan {
  std::string data_identifier;  // e.g. "nnUNetPlans_3d_fullres"
  std::string preprocessor_name = "DefaultPreprocessor";
  std::int64_t batch_size = 2;
  std::vector<std::int64_t> patch_size;             // transposed axis order
  std::vector<double> median_image_size_in_voxels;  // transposed axis order
  // nnU-Net writes the 3d_lowres median as ints (it is rounded there) and the others as floats.
  bool median_is_integer = false;
  std::vector<double> spacing;                     // target spacing, transposed axis order
  std::vector<std::string> normalization_schemes;  // one per channel
  std::vector<bool> use_mask_for_norm;             // one per channel
  ResamplingSettings resampling_data{"resample_data_or_seg_to_shape", false, 3, 0, std::nullopt};
  ResamplingSettings resampling_seg{"resample_data_or_seg_to_shape", true, 1, 0, std::nullopt};
  ResamplingSettings resampling_probabilities{"resample_data_or_seg_to_shape", false, 1, 0, std::nullopt};
  NetworkTopology network;  // architecture (n_stages, features, kernels, strides, blocks, ...)
  bool batch_dice = false;
  std::string next_stage;  // "3d_cascade_fullres" for 3d_lowres with a cascade, else empty
  // nnuc's fields.
  std::string memory_model;
  std::uint64_t predicted_peak_bytes = 0;
  std::uint64_t memory_budget_bytes = 0;
};

struct Plans {
  std::string dataset_name;  // "DatasetXXX_Name"
  std::string plans_name;    // "nnUNetPlans", "nnUNetResEncUNetLPlans", ...
  std::vector<double> original_median_spacing_after_transp;
  std::vector<std::int64_t> original_median_shape_after_transp;
  std::string image_reader_writer;  // "SimpleITKIO", "NaturalImage2DIO", ...
  std::array<int, 3> transpose_forward{0, 1, 2};
  std::array<int, 3> transpose_backward{0, 1, 2};
  std::optional<ConfigurationPlan> configuration_2d;
  std::optional<ConfigurationPlan> configuration_3d_lowres;
  std::optional<ConfigurationPlan> configuration_3d_fullres;
  // True when 3d_lowres exists: "3d_cascade_fullres" = {"inherits_from": "3d_fullres",
  // "previous_stage": "3d_lowres"}.
  bool has_cascade = false;
  std::string experiment_planner_used;  // planner class name, e.g. "ExperimentPlanner"
  std::string label_manager = "LabelManager";
  nlohmann::ordered_json foreground_intensity_properties_per_channel = nlohmann::ordered_json::object();
};

// The architecture entry of a configuration ({"network_class_name", "arch_kwargs", "_kw_requires_import"}).
nlohmann::ordered_json architecture_to_json(const NetworkTopology& network);
nlohmann::ordered_json configuration_to_json(const ConfigurationPlan& configuration);
// The plans document. Configurations in nnU-Net's order: 2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres.
nlohmann::ordered_json plans_to_json(const Plans& plans);

// Writes the plans to `path` atomically (data::write_file_atomic). When `path` already holds plans,
// its configurations that these plans do not define (custom ones) are kept, as nnU-Net's save_plans
// does (spec §3.8.7). Throws InvalidInput, writing nothing, when `path` holds something else.
void write_plans_file(const std::filesystem::path& path, const Plans& plans);
// The check write_plans_file makes before writing: `path` does not exist or holds plans (an object
// with a "configurations" object). Returns the existing document (null when there is none).
nlohmann::ordered_json existing_plans_document(const std::filesystem::path& path);

}  // namespace nnuc::planner
