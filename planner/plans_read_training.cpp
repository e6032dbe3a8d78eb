#include "planner/plans_read_training.h"

#include <algorithm>
#include <filesystem>

#include "data/dataset/atomic_file.h"
#include "data/preprocess/store.h"
#include "kernels/core/error.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

namespace {

// The case identifiers of a preprocessed configuration folder: CASE for every CASE.nnuc, sorted.
std::vector<std::string> preprocessed_case_ids(const fs::path& folder) {
  std::vector<std::string> ids;
  const std::string ending = data::kStoreFileEnding;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.size() <= ending.size() || name[0] == '.' ||
        name.compare(name.size() - ending.size(), ending.size(), ending) != 0)
      continue;
    ids.push_back(name.substr(0, name.size() - ending.size()));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> case_files(const fs::path& folder, const std::vector<std::string>& ids) {
  std::vector<std::string> files;
  for (const std::string& id : ids) {
    const fs::path file = folder / (id + data::kStoreFileEnding);
    NNUC_CHECK(fs::is_regular_file(file), "the split names case '", id, "' but ", file.string(),
               " does not exist (preprocess it, or fix splits_final.json)");
    files.push_back(file.string());
  }
  return files;
}

std::string available_plans(const fs::path& folder) {
  std::string names;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && entry.path().extension() == ".json" && name.find("Plans") != std::string::npos)
      names += (names.empty() ? "" : ", ") + entry.path().stem().string();
  }
  return names.empty() ? "none" : names;
}

std::string experiment_folder_name(const TrainingSetupOptions& options, const std::string& configuration) {
  return options.trainer_name + "__" + options.plans_name + "__" + configuration;
}

}  // namespace

std::string preprocessing_configuration(const PlansFile& plans, const std::string& configuration) {
  const ResolvedConfiguration* current = &plans.configuration(configuration);
  const std::string& data_identifier = current->plan.data_identifier;
  for (std::size_t depth = 0; !current->inherits_from.empty() && depth < plans.configurations.size(); ++depth) {
    const ResolvedConfiguration& parent = plans.configuration(current->inherits_from);
    if (parent.plan.data_identifier != data_identifier) break;
    current = &parent;
  }
  return current->name;
}

TrainingSetup prepare_training(const TrainingSetupOptions& options) {
  const fs::path folder = options.preprocessed_folder;
  NNUC_CHECK(fs::is_directory(folder), "preprocessed dataset folder ", folder.string(),
             " does not exist (run nnuc plan first)");
  NNUC_CHECK(!options.results_root.empty(), "no results folder given (-o RESULTS_DIR or $nnUNet_results)");
  const fs::path plans_path = folder / (options.plans_name + ".json");
  NNUC_CHECK(fs::is_regular_file(plans_path), "no plans '", options.plans_name, "' in ", folder.string(), ": ",
             plans_path.string(), " does not exist (plans there: ", available_plans(folder), ")");
  TrainingSetup setup;
  setup.plans = read_plans_file(plans_path);
  setup.configuration = setup.plans.configuration(options.configuration);
  const ConfigurationPlan& plan = setup.configuration.plan;
  setup.dataset = data::load_dataset_json((folder / "dataset.json").string());
  setup.network = unet_config_for_training(setup.configuration, setup.dataset);
  setup.loss = loss_config_for_training(plan, setup.dataset);

  const fs::path data_folder = folder / plan.data_identifier;
  NNUC_CHECK(fs::is_directory(data_folder), "configuration ", options.configuration,
             " was not preprocessed: ", data_folder.string(), " does not exist (run nnuc plan with -c ",
             preprocessing_configuration(setup.plans, options.configuration), ")");
  const std::vector<std::string> ids = preprocessed_case_ids(data_folder);
  NNUC_CHECK(!ids.empty(), data_folder.string(), " holds no preprocessed case (*", data::kStoreFileEnding, ")");
  const std::vector<data::Split> splits = data::load_or_create_splits((folder / data::kSplitsFileName).string(), ids);
  setup.split = data::fold_split(splits, options.fold, ids);

  nn::PipelineSpec& pipeline = setup.pipeline;
  pipeline.training_cases = case_files(data_folder, setup.split.train);
  pipeline.validation_cases = case_files(data_folder, setup.split.val);
  pipeline.patch = plan.patch_size;
  pipeline.batch_size = plan.batch_size;
  pipeline.input_channels = setup.dataset.num_channels();
  pipeline.use_mask_for_norm = plan.use_mask_for_norm;
  if (setup.dataset.has_regions()) pipeline.regions = setup.dataset.foreground_regions();
  pipeline.ignore_label = setup.dataset.ignore_label();
  if (!setup.configuration.previous_stage.empty()) {
    pipeline.foreground_labels = foreground_labels(setup.dataset);
    const fs::path predictions = fs::path(options.results_root) / setup.plans.plans.dataset_name /
                                 experiment_folder_name(options, setup.configuration.previous_stage) /
                                 "predicted_next_stage" / options.configuration;
    const auto previous = [&](const std::vector<std::string>& cases) {
      std::vector<std::string> files;
      for (const std::string& id : cases) {
        const fs::path file = predictions / (id + data::kStoreFileEnding);
        NNUC_CHECK(fs::is_regular_file(file), "configuration ", options.configuration, " is fed by ",
                   setup.configuration.previous_stage, " but its prediction of case '", id, "' (", file.string(),
                   ") does not exist: train all folds of ", setup.configuration.previous_stage, " first");
        files.push_back(file.string());
      }
      return data::previous_stage_from_store_files(files);
    };
    pipeline.previous_stage_training = previous(setup.split.train);
    pipeline.previous_stage_validation = previous(setup.split.val);
  }
  setup.mirror_axes = nn::inference_mirror_axes(plan.patch_size);

  setup.output_base = (fs::path(options.results_root) / setup.plans.plans.dataset_name /
                       experiment_folder_name(options, options.configuration))
                          .string();
  setup.fold_folder = (fs::path(setup.output_base) / ("fold_" + options.fold)).string();
  setup.init_args = {{"plans", nlohmann::json::parse(data::read_json_file(plans_path.string()).dump())},
                     {"plans_name", options.plans_name},
                     {"configuration", options.configuration},
                     {"fold", options.fold},
                     {"dataset_json", nlohmann::json::parse(data::dataset_json_to_json(setup.dataset).dump())},
                     {"trainer", options.trainer_name},
                     {"preprocessed_folder", folder.string()}};
  return setup;
}

void write_results_folder_files(const TrainingSetup& setup, const TrainingSetupOptions& options) {
  const fs::path folder = options.preprocessed_folder;
  fs::create_directories(setup.output_base);
  const std::pair<fs::path, const char*> copies[] = {{folder / (options.plans_name + ".json"), "plans.json"},
                                                     {folder / "dataset.json", "dataset.json"},
                                                     {folder / "dataset_fingerprint.json", "dataset_fingerprint.json"}};
  for (const auto& [source, name] : copies) {
    if (!fs::is_regular_file(source)) continue;  // a fingerprint is absent when planning started from plans alone
    data::write_file_atomic((fs::path(setup.output_base) / name).string(), data::read_file_text(source.string()));
  }
}

}  // namespace nnuc::planner
