#include "planner/model_folder.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "data/preprocess/fingerprint.h"
#include "nn/checkpoint.h"
#include "nn/pth/pth_reader.h"
#include "nn/trainer_data.h"
#include "nn/training_state.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

// A missing or unreadable file is an IoError (InvalidInput is for content that breaks a rule).
#define NNUC_MODEL_CHECK_FILE(cond, ...)           \
  do {                                             \
    if (!(cond)) NNUC_THROW(IoError, __VA_ARGS__); \
  } while (0)

namespace {

// The checkpoint file of a fold: the name as given when it has an extension, else .nnuc, then .pth.
std::optional<fs::path> find_checkpoint(const fs::path& fold_folder, const std::string& name) {
  if (fs::path(name).has_extension()) {
    const fs::path path = fold_folder / name;
    return fs::is_regular_file(path) ? std::optional<fs::path>(path) : std::nullopt;
  }
  for (const char* extension : {".nnuc", ".pth"}) {
    const fs::path path = fold_folder / (name + extension);
    if (fs::is_regular_file(path)) return path;
  }
  return std::nullopt;
}

std::string fold_of(const std::string& folder_name) { return folder_name.substr(std::string("fold_").size()); }

// The configuration named by the folder <trainer>__<plans>__<configuration>.
std::string configuration_from_folder_name(const fs::path& folder) {
  const std::string name = fs::absolute(folder).lexically_normal().filename().string().empty()
                               ? fs::absolute(folder).lexically_normal().parent_path().filename().string()
                               : fs::absolute(folder).lexically_normal().filename().string();
  const std::size_t at = name.rfind("__");
  return at == std::string::npos ? std::string() : name.substr(at + 2);
}

std::vector<std::pair<std::string, Tensor>> parameters_of(nn::UNet& network) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const nn::NamedParameter& parameter : network.parameters())
    out.emplace_back(parameter.name, parameter.var->value());
  return out;
}

// The network's parameters, in its order, from `find` (name -> tensor or nullptr); each must exist
// with the parameter's shape and dtype. `source` starts the error messages.
std::vector<std::pair<std::string, Tensor>> matching_weights(
    const nn::UNetConfig& config, const std::function<const Tensor*(const std::string&)>& find,
    const std::string& source) {
  std::vector<std::pair<std::string, Tensor>> out;
  nn::UNet network(Context::cpu(), config, DType::f32, 0);
  for (auto& [name, target] : parameters_of(network)) {
    const Tensor* value = find(name);
    NNUC_CHECK(value != nullptr, source, " has no tensor '", name, "'");
    NNUC_CHECK(value->shape() == target.shape() && value->dtype() == target.dtype() && value->device() == Device::CPU,
               source, ": tensor '", name, "' is ", value->describe(), " but the network expects ", target.describe());
    out.emplace_back(name, *value);
  }
  return out;
}

FoldWeights checked_in_memory_fold(const FoldWeights& given, const nn::UNetConfig& config, const std::string& folder) {
  FoldWeights fold = given;
  fold.weights = matching_weights(
      config,
      [&](const std::string& name) -> const Tensor* {
        for (const auto& [key, value] : given.weights)
          if (key == name) return &value;
        return nullptr;
      },
      "the in-memory weights for " + folder);
  return fold;
}

FoldWeights read_fold(const fs::path& checkpoint, const nn::UNetConfig& config) {
  FoldWeights fold;
  const std::string path = checkpoint.string();
  if (checkpoint.extension() == ".pth") {
    const nn::NnunetCheckpoint stored = nn::read_nnunet_checkpoint(path);
    nn::UNet network(Context::cpu(), config, DType::f32, 0);
    nn::load_nnunet_weights(network, stored, path);
    fold.weights = parameters_of(network);
    fold.mirror_axes = stored.inference_allowed_mirroring_axes;
    fold.has_mirror_axes = true;
    fold.trainer_name = stored.trainer_name;
    return fold;
  }
  const nn::Checkpoint stored = nn::load_checkpoint(path);
  NNUC_CHECK(stored.metadata.contains("network"), path, ": checkpoint has no network configuration");
  nlohmann::json expected = nn::to_json(config), found = stored.metadata["network"];
  expected.erase("deep_supervision");
  found.erase("deep_supervision");
  NNUC_CHECK(expected == found, path, ": checkpoint holds network ", found.dump(), " but plans.json and dataset.json ",
             "describe ", expected.dump());
  fold.weights = matching_weights(
      config, [&](const std::string& name) { return stored.find(name); }, path + ": checkpoint");
  if (stored.metadata.contains("inference_allowed_mirroring_axes") &&
      stored.metadata["inference_allowed_mirroring_axes"].is_array()) {
    fold.mirror_axes = stored.metadata["inference_allowed_mirroring_axes"].get<std::vector<int>>();
    fold.has_mirror_axes = true;
  }
  fold.trainer_name = stored.metadata.value("trainer_name", std::string("nnUNetTrainer"));
  return fold;
}

std::string configuration_from_checkpoint(const fs::path& checkpoint) {
  if (checkpoint.extension() == ".pth") return nn::read_nnunet_checkpoint(checkpoint.string()).configuration;
  const nn::Checkpoint stored = nn::load_checkpoint(checkpoint.string());
  const nlohmann::json& init = stored.metadata.value("init_args", nlohmann::json::object());
  return init.is_object() && init.contains("configuration") && init["configuration"].is_string()
             ? init["configuration"].get<std::string>()
             : std::string();
}

}  // namespace

std::string model_folder_path(const std::string& results_root, const std::string& dataset_name,
                              const std::string& trainer, const std::string& plans, const std::string& configuration) {
  return (fs::path(results_root) / dataset_name / (trainer + "__" + plans + "__" + configuration)).string();
}

data::PreprocessingPlan preprocessing_plan_from_plans(const PlansFile& plans,
                                                      const ResolvedConfiguration& configuration,
                                                      const data::DatasetJson& dataset) {
  const ConfigurationPlan& plan = configuration.plan;
  const std::size_t channels = plan.normalization_schemes.size();
  NNUC_CHECK(channels == static_cast<std::size_t>(dataset.num_channels()) && plan.use_mask_for_norm.size() == channels,
             plans.source, ": configuration ", configuration.name, " has ", channels,
             " normalization schemes, dataset.json ", dataset.num_channels(), " channels");
  std::vector<data::IntensityProperties> intensity;
  if (!plans.plans.foreground_intensity_properties_per_channel.empty())
    intensity =
        data::intensity_properties_from_json(plans.plans.foreground_intensity_properties_per_channel, plans.source);
  data::PreprocessingPlan out;
  out.transpose_forward = plans.plans.transpose_forward;
  out.target_spacing = plan.spacing;
  for (std::size_t c = 0; c < channels; ++c) {
    data::ChannelNormalization normalization;
    normalization.scheme = data::normalization_scheme_from_name(plan.normalization_schemes[c]);
    normalization.use_mask_for_norm = plan.use_mask_for_norm[c];
    if (normalization.scheme == data::NormalizationScheme::CT) {
      NNUC_CHECK(c < intensity.size(), plans.source, ": channel ", c,
                 " uses CT normalization but foreground_intensity_properties_per_channel has no entry \"", c, "\"");
      normalization.intensity = intensity[c];
    }
    out.normalization.push_back(normalization);
  }
  out.data_resampling = {plan.resampling_data.order, plan.resampling_data.order_z,
                         plan.resampling_data.force_separate_z};
  out.seg_resampling = {plan.resampling_seg.order, plan.resampling_seg.order_z, plan.resampling_seg.force_separate_z};
  return out;
}

data::ExportPlan export_plan_from_plans(const PlansFile& plans, const ResolvedConfiguration& configuration,
                                        const data::DatasetJson& dataset) {
  data::ExportPlan out;
  out.transpose_forward = plans.plans.transpose_forward;
  out.transpose_backward = plans.plans.transpose_backward;
  out.configuration_spacing = configuration.plan.spacing;
  const ResamplingSettings& probabilities = configuration.plan.resampling_probabilities;
  out.probabilities_resampling = {probabilities.order, probabilities.order_z, probabilities.force_separate_z};
  out.has_regions = dataset.has_regions();
  if (out.has_regions) {
    NNUC_CHECK(dataset.regions_class_order.has_value(), "dataset.json of ", plans.source,
               ": region labels need \"regions_class_order\" for prediction");
    out.regions_class_order = *dataset.regions_class_order;
  }
  out.num_foreground_labels = static_cast<int>(foreground_labels(dataset).size());
  return out;
}

nn::PredictorModelSpec read_model_folder(const std::string& folder, const ModelFolderOptions& options) {
  const fs::path root(folder);
  NNUC_MODEL_CHECK_FILE(fs::is_directory(root), "model folder ", folder, " does not exist or is not a folder");
  for (const char* file : {"plans.json", "dataset.json"})
    NNUC_MODEL_CHECK_FILE(fs::is_regular_file(root / file), "model folder ", folder, " has no ", file,
                          " (expected a folder written by nnuc train or nnU-Net: plans.json, dataset.json, fold_X/)");
  const PlansFile plans = read_plans_file(root / "plans.json");
  const data::DatasetJson dataset = data::load_dataset_json((root / "dataset.json").string());

  // The folds: as asked, or every fold_* folder holding the checkpoint.
  std::vector<std::pair<std::string, fs::path>> folds;
  if (options.in_memory_fold) {
    NNUC_CHECK(options.folds.size() == 1 && !options.configuration.empty(), "model folder ", folder,
               ": in-memory weights need exactly one fold and the configuration, got ", options.folds.size(),
               " folds and configuration '", options.configuration, "'");
    folds.emplace_back(options.folds.front(), fs::path());
  } else if (options.folds.empty()) {
    std::vector<std::string> found;
    for (const fs::directory_entry& entry : fs::directory_iterator(root))
      if (entry.is_directory() && entry.path().filename().string().rfind("fold_", 0) == 0 &&
          find_checkpoint(entry.path(), options.checkpoint))
        found.push_back(entry.path().filename().string());
    std::sort(found.begin(), found.end());
    NNUC_MODEL_CHECK_FILE(!found.empty(), "model folder ", folder, " has no fold_X/ folder with ", options.checkpoint,
                          " (.nnuc or .pth)");
    for (const std::string& name : found)
      folds.emplace_back(fold_of(name), *find_checkpoint(root / name, options.checkpoint));
  } else {
    for (const std::string& fold : options.folds) {
      const fs::path fold_folder = root / ("fold_" + fold);
      const std::optional<fs::path> checkpoint = find_checkpoint(fold_folder, options.checkpoint);
      NNUC_MODEL_CHECK_FILE(checkpoint.has_value(), "model folder ", folder, ": fold ", fold, " has no ",
                            (fold_folder / options.checkpoint).string(),
                            fs::path(options.checkpoint).has_extension() ? "" : "{.nnuc,.pth}");
      folds.emplace_back(fold, *checkpoint);
    }
  }

  std::string configuration_name = options.configuration;
  if (configuration_name.empty()) configuration_name = configuration_from_checkpoint(folds.front().second);
  if (configuration_name.empty()) configuration_name = configuration_from_folder_name(root);
  NNUC_CHECK(!configuration_name.empty(), "model folder ", folder,
             ": cannot tell its configuration (no init_args.configuration in the checkpoint and the folder is not "
             "named <trainer>__<plans>__<configuration>)");
  const ResolvedConfiguration& configuration = plans.configuration(configuration_name);

  nn::PredictorModelSpec spec;
  spec.folder = folder;
  spec.configuration = configuration_name;
  spec.network = unet_config_for_training(configuration, dataset);
  spec.network.deep_supervision = false;
  spec.preprocessing = preprocessing_plan_from_plans(plans, configuration, dataset);
  spec.export_plan = export_plan_from_plans(plans, configuration, dataset);
  const std::vector<std::int64_t>& patch = configuration.plan.patch_size;
  NNUC_CHECK(patch.size() == 2 || patch.size() == 3, plans.source, ": configuration ", configuration_name,
             " has a patch of ", patch.size(), " values");
  spec.is_2d = patch.size() == 2;
  spec.patch = spec.is_2d ? std::array<std::int64_t, 3>{1, patch[0], patch[1]}
                          : std::array<std::int64_t, 3>{patch[0], patch[1], patch[2]};
  spec.file_ending = dataset.file_ending;
  spec.image_channels = dataset.num_channels();
  spec.previous_stage = configuration.previous_stage;
  if (!spec.previous_stage.empty()) spec.previous_stage_labels = foreground_labels(dataset);
  spec.all_labels = dataset.all_labels();
  spec.mirror_axes = nn::inference_mirror_axes(patch);
  bool mirror_axes_set = false;
  for (const auto& [fold, checkpoint] : folds) {
    FoldWeights weights = options.in_memory_fold ? checked_in_memory_fold(*options.in_memory_fold, spec.network, folder)
                                                 : read_fold(checkpoint, spec.network);
    if (weights.has_mirror_axes && !mirror_axes_set) {
      spec.mirror_axes = weights.mirror_axes;
      spec.trainer_name = weights.trainer_name;
      mirror_axes_set = true;
    }
    spec.folds.push_back(fold);
    spec.fold_weights.push_back(std::move(weights.weights));
  }
  return spec;
}

}  // namespace nnuc::planner
