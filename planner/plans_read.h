// Reading plans back (spec §3.9): the plans JSON that planner/plans.cpp writes (and nnU-Net's own
// plans.json) parsed into planner::Plans and ConfigurationPlan, with every configuration resolved
// through "inherits_from" (3d_cascade_fullres, custom configurations such as "3d_fullres_bs4"), and
// the network and loss a configuration trains with.
//
// Parsing validates at the door: errors are InvalidInput (IoError for an unreadable file) whose
// message names the file and the field path ("configurations.3d_fullres.patch_size[1]"), the value
// found and what was expected.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "nn/loss.h"
#include "nn/unet.h"
#include "planner/plans.h"

namespace nnuc::planner {

// One configuration of a plans file, as nnU-Net's PlansManager resolves it: the parent's fields
// (recursively resolved) updated key by key with the child's (a shallow update, as Python's
// dict.update: a child "architecture" replaces the parent's whole architecture).
struct ResolvedConfiguration {
  std::string name;
  ConfigurationPlan plan;
  std::string inherits_from;   // the direct parent, empty when none
  std::string previous_stage;  // cascade: the configuration whose predictions feed this one
};

struct PlansFile {
  std::string source;  // the file (or the name given to read_plans) for messages
  // The standard configurations (2d, 3d_lowres, 3d_fullres; has_cascade when 3d_cascade_fullres is
  // exactly {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}): plans_to_json(plans)
  // gives back the document without custom configurations.
  Plans plans;
  std::vector<ResolvedConfiguration> configurations;  // every configuration, in file order

  // The configuration named `name`; InvalidInput naming the file and listing the available ones.
  const ResolvedConfiguration& configuration(const std::string& name) const;
};

// requires: `document` is a plans document (spec §3.9); the legacy layout without "architecture"
//   (UNet_class_name, UNet_base_num_features, conv_kernel_sizes, pool_op_kernel_sizes,
//   n_conv_per_stage_encoder/_decoder, unet_max_num_features) is converted as nnU-Net does.
// ensures: every configuration parsed and resolved; an inheritance cycle, an unknown parent or
//   previous stage, a missing or mistyped field is InvalidInput naming `source` and the field.
//   The network topology's input/output channel counts are not part of plans: they stay at their
//   defaults (unet_config_for_training fills them from dataset.json).
PlansFile read_plans(const nlohmann::ordered_json& document, const std::string& source);
PlansFile read_plans_file(const std::filesystem::path& path);

// One configuration object (after inheritance) parsed; `where` prefixes field names in messages.
ConfigurationPlan configuration_from_json(const nlohmann::ordered_json& configuration, const std::string& where);

// Foreground labels of a dataset in ascending order (LabelManager.foreground_labels): every label id
// except background 0 and the ignore label. A cascade stage appends one one-hot input channel each.
std::vector<int> foreground_labels(const data::DatasetJson& dataset);

// The network a configuration trains: its architecture with input channels = dataset channels
// (+ foreground labels for a configuration with a previous stage), classes = dataset heads
// (labels without ignore, or the foreground regions), deep supervision on.
nn::UNetConfig unet_config_for_training(const ResolvedConfiguration& configuration, const data::DatasetJson& dataset);

// The loss a configuration trains with: regions from dataset.json, its ignore label (label
// training) or ignore channel (region training), batch Dice from the configuration.
nn::LossConfig loss_config_for_training(const ConfigurationPlan& configuration, const data::DatasetJson& dataset);

}  // namespace nnuc::planner
