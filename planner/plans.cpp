#include "planner/plans.h"

#include "data/dataset/atomic_file.h"
#include "kernels/core/error.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

Json resampling_kwargs(const ResamplingSettings& r) {
  Json kwargs = Json::object();
  kwargs["is_seg"] = r.is_seg;
  kwargs["order"] = r.order;
  kwargs["order_z"] = r.order_z;
  kwargs["force_separate_z"] = r.force_separate_z ? Json(*r.force_separate_z) : Json(nullptr);
  return kwargs;
}

Json int_lists(const std::vector<std::vector<int>>& lists) {
  Json out = Json::array();
  for (const auto& list : lists) out.push_back(list);
  return out;
}

}  // namespace

Json architecture_to_json(const NetworkTopology& network) {
  NNUC_CHECK(network.dim == 2 || network.dim == 3, "architecture_to_json: dim = ", network.dim, ", expected 2 or 3");
  const std::string d = std::to_string(network.dim);
  Json kwargs = Json::object();
  kwargs["n_stages"] = network.n_stages();
  kwargs["features_per_stage"] = network.features_per_stage;
  kwargs["conv_op"] = "torch.nn.modules.conv.Conv" + d + "d";
  kwargs["kernel_sizes"] = int_lists(network.kernel_sizes);
  kwargs["strides"] = int_lists(network.strides);
  if (network.network_class == NetworkClass::PlainConvUNet) {
    kwargs["n_conv_per_stage"] = network.blocks_per_stage;
  } else {
    kwargs["n_blocks_per_stage"] = network.blocks_per_stage;
  }
  kwargs["n_conv_per_stage_decoder"] = network.conv_per_stage_decoder;
  kwargs["conv_bias"] = true;
  kwargs["norm_op"] = "torch.nn.modules.instancenorm.InstanceNorm" + d + "d";
  kwargs["norm_op_kwargs"] = Json{{"eps", 1e-05}, {"affine", true}};
  kwargs["dropout_op"] = nullptr;
  kwargs["dropout_op_kwargs"] = nullptr;
  kwargs["nonlin"] = "torch.nn.LeakyReLU";
  kwargs["nonlin_kwargs"] = Json{{"inplace", true}};

  Json architecture = Json::object();
  architecture["network_class_name"] = network_class_name(network.network_class);
  architecture["arch_kwargs"] = kwargs;
  architecture["_kw_requires_import"] = Json{"conv_op", "norm_op", "dropout_op", "nonlin"};
  return architecture;
}

Json configuration_to_json(const ConfigurationPlan& c) {
  Json out = Json::object();
  out["data_identifier"] = c.data_identifier;
  out["preprocessor_name"] = c.preprocessor_name;
  out["batch_size"] = c.batch_size;
  out["patch_size"] = c.patch_size;
  if (c.median_is_integer) {
    Json median = Json::array();
    for (double v : c.median_image_size_in_voxels) median.push_back(static_cast<std::int64_t>(v));
    out["median_image_size_in_voxels"] = median;
  } else {
    out["median_image_size_in_voxels"] = c.median_image_size_in_voxels;
  }
  out["spacing"] = c.spacing;
  out["normalization_schemes"] = c.normalization_schemes;
  out["use_mask_for_norm"] = c.use_mask_for_norm;
  out["resampling_fn_data"] = c.resampling_data.function;
  out["resampling_fn_seg"] = c.resampling_seg.function;
  out["resampling_fn_data_kwargs"] = resampling_kwargs(c.resampling_data);
  out["resampling_fn_seg_kwargs"] = resampling_kwargs(c.resampling_seg);
  out["resampling_fn_probabilities"] = c.resampling_probabilities.function;
  out["resampling_fn_probabilities_kwargs"] = resampling_kwargs(c.resampling_probabilities);
  out["architecture"] = architecture_to_json(c.network);
  out["batch_dice"] = c.batch_dice;
  if (!c.next_stage.empty()) out["next_stage"] = c.next_stage;
  out["memory_model"] = c.memory_model;
  out["predicted_peak_bytes"] = c.predicted_peak_bytes;
  out["memory_budget_bytes"] = c.memory_budget_bytes;
  return out;
}

Json plans_to_json(const Plans& p) {
  Json out = Json::object();
  out["dataset_name"] = p.dataset_name;
  out["plans_name"] = p.plans_name;
  out["original_median_spacing_after_transp"] = p.original_median_spacing_after_transp;
  out["original_median_shape_after_transp"] = p.original_median_shape_after_transp;
  out["image_reader_writer"] = p.image_reader_writer;
  out["transpose_forward"] = p.transpose_forward;
  out["transpose_backward"] = p.transpose_backward;
  Json configurations = Json::object();
  if (p.configuration_2d) configurations["2d"] = configuration_to_json(*p.configuration_2d);
  if (p.configuration_3d_lowres) configurations["3d_lowres"] = configuration_to_json(*p.configuration_3d_lowres);
  if (p.configuration_3d_fullres) configurations["3d_fullres"] = configuration_to_json(*p.configuration_3d_fullres);
  if (p.has_cascade) {
    configurations["3d_cascade_fullres"] = Json{{"inherits_from", "3d_fullres"}, {"previous_stage", "3d_lowres"}};
  }
  out["configurations"] = configurations;
  out["experiment_planner_used"] = p.experiment_planner_used;
  out["label_manager"] = p.label_manager;
  out["foreground_intensity_properties_per_channel"] = p.foreground_intensity_properties_per_channel;
  return out;
}

Json existing_plans_document(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return Json();
  Json old = data::read_json_file(path.string());
  NNUC_CHECK(old.is_object() && old.contains("configurations") && old.at("configurations").is_object(), path.string(),
             ": existing plans have no \"configurations\" object; refusing to overwrite a file that is not plans");
  return old;
}

void write_plans_file(const std::filesystem::path& path, const Plans& plans) {
  Json document = plans_to_json(plans);
  const Json old = existing_plans_document(path);
  if (!old.is_null()) {
    for (const auto& [name, configuration] : old.at("configurations").items()) {
      if (!document["configurations"].contains(name)) document["configurations"][name] = configuration;
    }
  }
  data::write_file_atomic(path.string(), document.dump(4) + "\n");
}

}  // namespace nnuc::planner
