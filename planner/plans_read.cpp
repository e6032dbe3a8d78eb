#include "planner/plans_read.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "data/dataset/atomic_file.h"
#include "kernels/core/error.h"
#include "planner/exact_memory_model.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

std::string shown(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

bool is_integral(const Json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double v = value.get<double>();
  return std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9.0e15;
}

// Typed access to the fields of one JSON object; `where` is "FILE: configurations.3d_fullres".
class Fields {
 public:
  Fields(const Json& object, std::string where) : object_(object), where_(std::move(where)) {
    NNUC_CHECK(object_.is_object(), where_, " = ", shown(object_), ": expected a JSON object");
  }
  const std::string& where() const { return where_; }
  std::string name(const std::string& key) const { return where_ + "." + key; }
  bool has(const std::string& key) const { return object_.contains(key); }
  const Json& at(const std::string& key) const {
    const auto it = object_.find(key);
    NNUC_CHECK(it != object_.end(), where_, ": required field \"", key, "\" is missing");
    return *it;
  }
  std::string text(const std::string& key) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_string(), name(key), " = ", shown(value), ": expected a string");
    return value.get<std::string>();
  }
  std::string text_or(const std::string& key, const std::string& fallback) const {
    return has(key) && !at(key).is_null() ? text(key) : fallback;
  }
  bool boolean(const std::string& key) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_boolean(), name(key), " = ", shown(value), ": expected true or false");
    return value.get<bool>();
  }
  std::int64_t integer(const std::string& key, std::int64_t low, std::int64_t high) const {
    return integer_value(at(key), name(key), low, high);
  }
  std::vector<std::int64_t> integers(const std::string& key, std::int64_t low, std::int64_t high) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_array(), name(key), " = ", shown(value), ": expected a list of integers");
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < value.size(); ++i)
      out.push_back(integer_value(value[i], name(key) + "[" + std::to_string(i) + "]", low, high));
    return out;
  }
  std::vector<int> ints(const std::string& key, int low, int high) const {
    const std::vector<std::int64_t> values = integers(key, low, high);
    return std::vector<int>(values.begin(), values.end());
  }
  std::vector<double> numbers(const std::string& key, bool positive) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_array(), name(key), " = ", shown(value), ": expected a list of numbers");
    std::vector<double> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const Json& item = value[i];
      NNUC_CHECK(item.is_number() && std::isfinite(item.get<double>()) && (!positive || item.get<double>() > 0),
                 name(key), "[", i, "] = ", shown(item), ": expected a ", positive ? "positive " : "", "finite number");
      out.push_back(item.get<double>());
    }
    return out;
  }
  std::vector<std::string> texts(const std::string& key) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_array(), name(key), " = ", shown(value), ": expected a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      NNUC_CHECK(value[i].is_string(), name(key), "[", i, "] = ", shown(value[i]), ": expected a string");
      out.push_back(value[i].get<std::string>());
    }
    return out;
  }
  std::vector<bool> booleans(const std::string& key) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_array(), name(key), " = ", shown(value), ": expected a list of true/false");
    std::vector<bool> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      NNUC_CHECK(value[i].is_boolean(), name(key), "[", i, "] = ", shown(value[i]), ": expected true or false");
      out.push_back(value[i].get<bool>());
    }
    return out;
  }
  // A list of `count` per-stage lists of `dim` integers (a bare integer stands for all axes, as
  // dynamic-network-architectures accepts).
  std::vector<std::vector<int>> per_stage(const std::string& key, std::size_t count, int dim, int low, int high) const {
    const Json& value = at(key);
    NNUC_CHECK(value.is_array() && value.size() == count, name(key), " = ", shown(value), ": expected a list of ",
               count, " entries (one per stage)");
    std::vector<std::vector<int>> out;
    for (std::size_t s = 0; s < count; ++s) {
      const std::string item_name = name(key) + "[" + std::to_string(s) + "]";
      const Json& item = value[s];
      if (!item.is_array()) {
        out.emplace_back(static_cast<std::size_t>(dim), static_cast<int>(integer_value(item, item_name, low, high)));
        continue;
      }
      NNUC_CHECK(item.size() == static_cast<std::size_t>(dim), item_name, " = ", shown(item), ": expected ", dim,
                 " integers (one per axis)");
      std::vector<int> axes;
      for (std::size_t a = 0; a < item.size(); ++a)
        axes.push_back(static_cast<int>(integer_value(item[a], item_name + "[" + std::to_string(a) + "]", low, high)));
      out.push_back(axes);
    }
    return out;
  }

 private:
  static std::int64_t integer_value(const Json& value, const std::string& field, std::int64_t low, std::int64_t high) {
    NNUC_CHECK(is_integral(value), field, " = ", shown(value), ": expected an integer");
    const auto v = value.get<std::int64_t>();
    NNUC_CHECK(v >= low && v <= high, field, " = ", v, ": expected an integer in [", low, ", ", high, "]");
    return v;
  }

  const Json& object_;
  std::string where_;
};

ResamplingSettings resampling_from(const Fields& fields, const std::string& function_key, const std::string& kwargs_key,
                                   ResamplingSettings settings) {
  settings.function = fields.text_or(function_key, settings.function);
  if (!fields.has(kwargs_key)) return settings;
  const Fields kwargs(fields.at(kwargs_key), fields.name(kwargs_key));
  if (kwargs.has("is_seg")) settings.is_seg = kwargs.boolean("is_seg");
  if (kwargs.has("order")) settings.order = static_cast<int>(kwargs.integer("order", 0, 5));
  if (kwargs.has("order_z")) settings.order_z = static_cast<int>(kwargs.integer("order_z", 0, 5));
  if (kwargs.has("force_separate_z") && !kwargs.at("force_separate_z").is_null())
    settings.force_separate_z = kwargs.boolean("force_separate_z");
  return settings;
}

NetworkClass network_class_from(const std::string& name, const std::string& field) {
  const auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("PlainConvUNet")) return NetworkClass::PlainConvUNet;
  if (ends_with("ResidualEncoderUNet")) return NetworkClass::ResidualEncoderUNet;
  NNUC_THROW(InvalidInput, field, " = \"", name,
             "\": nnuc builds dynamic_network_architectures.architectures.unet.PlainConvUNet or ResidualEncoderUNet");
}

// nnU-Net's conversion of legacy plans (no "architecture") into an architecture entry.
Json legacy_architecture(const Fields& c, std::size_t dim) {
  const std::string unet_class = c.text("UNet_class_name");
  const NetworkClass network_class = network_class_from(unet_class, c.name("UNet_class_name"));
  const std::vector<int> encoder = c.ints("n_conv_per_stage_encoder", 1, 64);
  const int base = static_cast<int>(c.integer("UNet_base_num_features", 1, 1 << 20));
  const int max_features = static_cast<int>(c.integer("unet_max_num_features", 1, 1 << 20));
  const std::string d = std::to_string(dim);
  Json kwargs = Json::object();
  kwargs["n_stages"] = encoder.size();
  kwargs["features_per_stage"] = features_per_stage(static_cast<int>(encoder.size()), base, max_features);
  kwargs["conv_op"] = "torch.nn.modules.conv.Conv" + d + "d";
  kwargs["kernel_sizes"] = c.at("conv_kernel_sizes");
  kwargs["strides"] = c.at("pool_op_kernel_sizes");
  kwargs[network_class == NetworkClass::PlainConvUNet ? "n_conv_per_stage" : "n_blocks_per_stage"] = encoder;
  kwargs["n_conv_per_stage_decoder"] = c.at("n_conv_per_stage_decoder");
  kwargs["conv_bias"] = true;
  kwargs["norm_op"] = "torch.nn.modules.instancenorm.InstanceNorm" + d + "d";
  kwargs["dropout_op"] = nullptr;
  kwargs["nonlin"] = "torch.nn.LeakyReLU";
  return Json{{"network_class_name", network_class_name(network_class)}, {"arch_kwargs", kwargs}};
}

NetworkTopology topology_from(const Json& architecture, const std::string& where, std::size_t patch_dims) {
  const Fields a(architecture, where);
  NetworkTopology topology;
  topology.network_class = network_class_from(a.text("network_class_name"), a.name("network_class_name"));
  const Fields k(a.at("arch_kwargs"), a.name("arch_kwargs"));
  const auto stages = static_cast<std::size_t>(k.integer("n_stages", 1, 64));
  int dim = static_cast<int>(patch_dims);
  if (k.has("conv_op") && !k.at("conv_op").is_null()) {
    const std::string conv_op = k.text("conv_op");
    NNUC_CHECK(conv_op.find("Conv2d") != std::string::npos || conv_op.find("Conv3d") != std::string::npos,
               k.name("conv_op"), " = \"", conv_op, "\": expected torch.nn.modules.conv.Conv2d or Conv3d");
    dim = conv_op.find("Conv2d") != std::string::npos ? 2 : 3;
    NNUC_CHECK(static_cast<std::size_t>(dim) == patch_dims, k.name("conv_op"), " = \"", conv_op, "\" is ", dim,
               "-D but the patch_size has ", patch_dims, " axes");
  }
  topology.dim = dim;
  topology.features_per_stage = k.ints("features_per_stage", 1, 1 << 20);
  NNUC_CHECK(topology.features_per_stage.size() == stages, k.name("features_per_stage"), " has ",
             topology.features_per_stage.size(), " entries, n_stages = ", stages);
  topology.kernel_sizes = k.per_stage("kernel_sizes", stages, dim, 1, 15);
  for (std::size_t s = 0; s < stages; ++s)
    for (int kernel : topology.kernel_sizes[s])
      NNUC_CHECK(kernel % 2 == 1, k.name("kernel_sizes"), "[", s, "] has the even size ", kernel,
                 ": nnuc pads by (k - 1) / 2 and needs odd kernels");
  topology.strides = k.per_stage("strides", stages, dim, 1, 16);
  const char* blocks_key =
      topology.network_class == NetworkClass::PlainConvUNet ? "n_conv_per_stage" : "n_blocks_per_stage";
  topology.blocks_per_stage = k.ints(blocks_key, 1, 64);
  NNUC_CHECK(topology.blocks_per_stage.size() == stages, k.name(blocks_key), " has ", topology.blocks_per_stage.size(),
             " entries, n_stages = ", stages);
  topology.conv_per_stage_decoder = k.ints("n_conv_per_stage_decoder", 1, 64);
  NNUC_CHECK(topology.conv_per_stage_decoder.size() + 1 == stages, k.name("n_conv_per_stage_decoder"), " has ",
             topology.conv_per_stage_decoder.size(), " entries, expected n_stages - 1 = ", stages - 1);
  if (k.has("conv_bias"))
    NNUC_CHECK(k.boolean("conv_bias"), k.name("conv_bias"), " = false: nnuc's U-Nets have conv biases");
  if (k.has("norm_op") && !k.at("norm_op").is_null())
    NNUC_CHECK(k.text("norm_op").find("InstanceNorm") != std::string::npos, k.name("norm_op"), " = \"",
               k.text("norm_op"), "\": nnuc builds InstanceNorm networks");
  if (k.has("dropout_op"))
    NNUC_CHECK(k.at("dropout_op").is_null(), k.name("dropout_op"), " = ", shown(k.at("dropout_op")),
               ": nnuc's networks have no dropout (expected null)");
  if (k.has("nonlin") && !k.at("nonlin").is_null())
    NNUC_CHECK(k.text("nonlin").find("LeakyReLU") != std::string::npos, k.name("nonlin"), " = \"", k.text("nonlin"),
               "\": nnuc builds LeakyReLU networks");
  return topology;
}

// The configuration `name` with its parents merged in (nnU-Net's
// _internal_resolve_configuration_inheritance): parent updated with the child's keys.
Json resolve(const Json& configurations, const std::string& name, std::vector<std::string>& chain,
             const std::string& source) {
  const auto it = configurations.find(name);
  NNUC_CHECK(it != configurations.end(), source, ": configurations.", chain.back(), ".inherits_from = \"", name,
             "\" names no configuration of the plans");
  NNUC_CHECK(it->is_object(), source, ": configurations.", name, " = ", shown(*it), ": expected a JSON object");
  if (!it->contains("inherits_from")) return *it;
  const Json& parent = it->at("inherits_from");
  NNUC_CHECK(parent.is_string(), source, ": configurations.", name, ".inherits_from = ", shown(parent),
             ": expected a configuration name");
  const std::string parent_name = parent.get<std::string>();
  chain.push_back(name);
  if (std::find(chain.begin(), chain.end(), parent_name) != chain.end()) {
    std::string cycle;
    for (const std::string& link : chain) cycle += link + " -> ";
    NNUC_THROW(InvalidInput, source, ": configurations form an inheritance cycle: ", cycle, parent_name);
  }
  Json merged = resolve(configurations, parent_name, chain, source);
  chain.pop_back();
  for (const auto& [key, value] : it->items()) merged[key] = value;
  return merged;
}

}  // namespace

ConfigurationPlan configuration_from_json(const Json& configuration, const std::string& where) {
  const Fields c(configuration, where);
  ConfigurationPlan plan;
  plan.data_identifier = c.text("data_identifier");
  NNUC_CHECK(!plan.data_identifier.empty() && plan.data_identifier.find('/') == std::string::npos &&
                 plan.data_identifier != "." && plan.data_identifier != "..",
             c.name("data_identifier"), " = \"", plan.data_identifier, "\": expected a folder name");
  plan.preprocessor_name = c.text_or("preprocessor_name", plan.preprocessor_name);
  plan.batch_size = c.integer("batch_size", 1, 1 << 20);
  plan.patch_size = c.integers("patch_size", 1, 1 << 20);
  const std::size_t dims = plan.patch_size.size();
  NNUC_CHECK(dims == 2 || dims == 3, c.name("patch_size"), " has ", dims, " entries, expected 2 or 3");
  if (c.has("median_image_size_in_voxels")) {
    plan.median_image_size_in_voxels = c.numbers("median_image_size_in_voxels", false);
    const Json& median = c.at("median_image_size_in_voxels");
    plan.median_is_integer = !median.empty() && std::all_of(median.begin(), median.end(),
                                                            [](const Json& v) { return v.is_number_integer(); });
  }
  plan.spacing = c.numbers("spacing", true);
  NNUC_CHECK(plan.spacing.size() == dims, c.name("spacing"), " has ", plan.spacing.size(), " entries, patch_size has ",
             dims);
  plan.normalization_schemes = c.texts("normalization_schemes");
  NNUC_CHECK(!plan.normalization_schemes.empty(), c.name("normalization_schemes"),
             " is empty: expected one per channel");
  plan.use_mask_for_norm = c.booleans("use_mask_for_norm");
  NNUC_CHECK(plan.use_mask_for_norm.size() == plan.normalization_schemes.size(), c.name("use_mask_for_norm"), " has ",
             plan.use_mask_for_norm.size(), " entries, normalization_schemes has ", plan.normalization_schemes.size());
  plan.resampling_data = resampling_from(c, "resampling_fn_data", "resampling_fn_data_kwargs", plan.resampling_data);
  plan.resampling_seg = resampling_from(c, "resampling_fn_seg", "resampling_fn_seg_kwargs", plan.resampling_seg);
  plan.resampling_probabilities = resampling_from(c, "resampling_fn_probabilities",
                                                  "resampling_fn_probabilities_kwargs", plan.resampling_probabilities);
  const Json architecture = c.has("architecture") ? c.at("architecture") : legacy_architecture(c, dims);
  plan.network = topology_from(architecture, c.name("architecture"), dims);
  plan.batch_dice = c.boolean("batch_dice");
  plan.next_stage = c.text_or("next_stage", "");
  plan.memory_model = c.text_or("memory_model", "");
  if (c.has("predicted_peak_bytes"))
    plan.predicted_peak_bytes = static_cast<std::uint64_t>(c.integer("predicted_peak_bytes", 0, INT64_MAX));
  if (c.has("memory_budget_bytes"))
    plan.memory_budget_bytes = static_cast<std::uint64_t>(c.integer("memory_budget_bytes", 0, INT64_MAX));
  return plan;
}

const ResolvedConfiguration& PlansFile::configuration(const std::string& name) const {
  std::string available;
  for (const ResolvedConfiguration& configuration : configurations) {
    if (configuration.name == name) return configuration;
    available += (available.empty() ? "" : ", ") + configuration.name;
  }
  NNUC_THROW(InvalidInput, source, ": the plans have no configuration \"", name, "\" (they have: ", available, ")");
}

PlansFile read_plans(const Json& document, const std::string& source) {
  const Fields top(document, source);
  PlansFile file;
  file.source = source;
  Plans& plans = file.plans;
  plans.dataset_name = top.text("dataset_name");
  plans.plans_name = top.text("plans_name");
  if (top.has("original_median_spacing_after_transp"))
    plans.original_median_spacing_after_transp = top.numbers("original_median_spacing_after_transp", false);
  if (top.has("original_median_shape_after_transp"))
    plans.original_median_shape_after_transp = top.integers("original_median_shape_after_transp", 0, INT64_MAX);
  plans.image_reader_writer = top.text_or("image_reader_writer", "");
  for (const char* key : {"transpose_forward", "transpose_backward"}) {
    const std::vector<int> permutation = top.ints(key, 0, 2);
    std::vector<int> sorted = permutation;
    std::sort(sorted.begin(), sorted.end());
    NNUC_CHECK(sorted == std::vector<int>({0, 1, 2}), top.name(key), " = ", shown(top.at(key)),
               ": expected a permutation of [0, 1, 2]");
    std::array<int, 3>& target =
        std::string(key) == "transpose_forward" ? plans.transpose_forward : plans.transpose_backward;
    std::copy(permutation.begin(), permutation.end(), target.begin());
  }
  plans.experiment_planner_used = top.text_or("experiment_planner_used", "");
  plans.label_manager = top.text_or("label_manager", plans.label_manager);
  if (top.has("foreground_intensity_properties_per_channel"))
    plans.foreground_intensity_properties_per_channel = top.at("foreground_intensity_properties_per_channel");

  const Json& configurations = top.at("configurations");
  NNUC_CHECK(configurations.is_object() && !configurations.empty(), top.name("configurations"), " = ",
             shown(configurations), ": expected a non-empty object of configurations");
  for (const auto& [name, raw] : configurations.items()) {
    std::vector<std::string> chain;
    chain.push_back(name);
    Json merged = resolve(configurations, name, chain, source);
    const std::string where = source + ": configurations." + name;
    ResolvedConfiguration resolved;
    resolved.name = name;
    resolved.plan = configuration_from_json(merged, where);
    if (raw.contains("inherits_from")) resolved.inherits_from = raw.at("inherits_from").get<std::string>();
    if (merged.contains("previous_stage")) {
      const Json& previous = merged.at("previous_stage");
      NNUC_CHECK(previous.is_string() && configurations.contains(previous.get<std::string>()), where,
                 ".previous_stage = ", shown(previous), ": expected the name of a configuration of the plans");
      resolved.previous_stage = previous.get<std::string>();
    }
    if (!resolved.plan.next_stage.empty())
      NNUC_CHECK(configurations.contains(resolved.plan.next_stage), where, ".next_stage = \"", resolved.plan.next_stage,
                 "\" names no configuration of the plans");
    const bool standard = resolved.inherits_from.empty();
    if (standard && name == "2d") plans.configuration_2d = resolved.plan;
    if (standard && name == "3d_lowres") plans.configuration_3d_lowres = resolved.plan;
    if (standard && name == "3d_fullres") plans.configuration_3d_fullres = resolved.plan;
    if (name == "3d_cascade_fullres" && raw.size() == 2 && raw.value("inherits_from", "") == "3d_fullres" &&
        raw.value("previous_stage", "") == "3d_lowres")
      plans.has_cascade = true;
    file.configurations.push_back(std::move(resolved));
  }
  return file;
}

PlansFile read_plans_file(const std::filesystem::path& path) {
  return read_plans(data::read_json_file(path.string()), path.string());
}

std::vector<int> foreground_labels(const data::DatasetJson& dataset) {
  std::vector<int> out;
  const std::optional<int> ignore = dataset.ignore_label();
  for (int label : dataset.all_labels())
    if (label != 0 && (!ignore || label != *ignore)) out.push_back(label);
  return out;
}

nn::UNetConfig unet_config_for_training(const ResolvedConfiguration& configuration, const data::DatasetJson& dataset) {
  NetworkTopology topology = configuration.plan.network;
  const int cascade_channels =
      configuration.previous_stage.empty() ? 0 : static_cast<int>(foreground_labels(dataset).size());
  NNUC_CHECK(static_cast<std::size_t>(dataset.num_channels()) == configuration.plan.normalization_schemes.size(),
             "configuration ", configuration.name, " normalizes ", configuration.plan.normalization_schemes.size(),
             " channels but dataset.json has ", dataset.num_channels(), " channel_names");
  topology.input_channels = dataset.num_channels() + cascade_channels;
  topology.output_channels = dataset.num_segmentation_heads();
  topology.estimate_output_channels = static_cast<int>(dataset.labels.size());
  nn::UNetConfig config = unet_config_for(topology);
  config.validate();
  return config;
}

nn::LossConfig loss_config_for_training(const ConfigurationPlan& configuration, const data::DatasetJson& dataset) {
  nn::LossConfig loss = loss_config_for(dataset);  // regions and ignore label (exact_memory_model.h)
  loss.batch_dice = configuration.batch_dice;
  return loss;
}

}  // namespace nnuc::planner
