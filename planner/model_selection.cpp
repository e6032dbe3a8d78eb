#include "planner/model_selection.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "data/dataset/atomic_file.h"
#include "data/dataset/dataset_json.h"
#include "data/evaluation/metrics.h"
#include "data/evaluation/python_json.h"
#include "data/postprocess/postprocess.h"
#include "planner/ensemble.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i ? separator : "") + parts[i];
  return text;
}

// A word for a shell command line: as it is when it holds only safe characters, else single-quoted.
std::string shell_word(const std::string& word) {
  bool safe = !word.empty();
  for (const char c : word)
    safe =
        safe && (std::isalnum(static_cast<unsigned char>(c)) || std::string("_-./+:=@,%").find(c) != std::string::npos);
  if (safe) return word;
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string format_dice(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.5f", value);
  return text;
}

// The configurations of a plans name: PREPROCESSED/NAME/<plans>.json, else the plans.json of a model
// folder <trainer>__<plans>__* under the results dataset folder; nullopt when neither exists.
struct PlansConfigurations {
  std::string file;
  std::set<std::string> names;
};
std::optional<PlansConfigurations> configurations_of_plans(const std::string& plans, const FindBestOptions& options) {
  std::vector<fs::path> candidates;
  if (!options.preprocessed_dataset_folder.empty())
    candidates.push_back(fs::path(options.preprocessed_dataset_folder) / (plans + ".json"));
  std::vector<fs::path> model_folders;
  for (const fs::directory_entry& entry : fs::directory_iterator(options.results_dataset_folder)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.find("__" + plans + "__") != std::string::npos)
      model_folders.push_back(entry.path());
  }
  std::sort(model_folders.begin(), model_folders.end());
  for (const fs::path& folder : model_folders) candidates.push_back(folder / "plans.json");
  for (const fs::path& file : candidates) {
    if (!fs::is_regular_file(file)) continue;
    const nlohmann::ordered_json document = data::read_json_file(file.string());
    NNUC_CHECK(document.contains("configurations") && document["configurations"].is_object(), file.string(),
               ": no \"configurations\" object (not a plans file)");
    PlansConfigurations result{file.string(), {}};
    for (auto it = document["configurations"].begin(); it != document["configurations"].end(); ++it)
      result.names.insert(it.key());
    return result;
  }
  return std::nullopt;
}

nlohmann::ordered_json fold_list(const std::vector<std::string>& folds) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const std::string& fold : folds) list.push_back(std::stoi(fold));
  return list;
}

}  // namespace

std::string crossval_folder_name(const std::vector<std::string>& folds) {
  return "crossval_results_folds_" + join(folds, "_");
}

std::string ensemble_name(const TrainedModel& first, const TrainedModel& second,
                          const std::vector<std::string>& folds) {
  return "ensemble___" + first.identifier() + "___" + second.identifier() + "___" + join(folds, "_");
}

std::vector<std::string> default_selection_configurations() {
  return {"2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres"};
}

std::string crossval_reference_folder(const data::NnunetRoots& roots, const std::string& dataset_name) {
  const fs::path raw = roots.raw.empty() ? fs::path() : fs::path(roots.raw) / dataset_name / "labelsTr";
  const fs::path preprocessed =
      roots.preprocessed.empty() ? fs::path() : fs::path(roots.preprocessed) / dataset_name / "gt_segmentations";
  if (!raw.empty() && fs::is_directory(raw)) return raw.string();
  if (!preprocessed.empty() && fs::is_directory(preprocessed)) return preprocessed.string();
  NNUC_THROW(InvalidInput, "no reference segmentations for ", dataset_name, ": neither ",
             raw.empty() ? std::string("$nnUNet_raw/") + dataset_name + "/labelsTr ($nnUNet_raw unset)" : raw.string(),
             " nor ",
             preprocessed.empty() ? std::string("$nnUNet_preprocessed/") + dataset_name +
                                        "/gt_segmentations ($nnUNet_preprocessed unset)"
                                  : preprocessed.string(),
             " exists");
}

CrossvalResult accumulate_crossval_results(const std::string& model_folder, const std::vector<std::string>& folds,
                                           const std::string& reference_folder, const std::string& output_folder,
                                           int threads, bool overwrite) {
  const fs::path model(model_folder);
  NNUC_CHECK(fs::is_directory(model), "no model folder ", model_folder);
  NNUC_CHECK(!folds.empty(), "cross-validation accumulation of ", model_folder, ": no folds");
  for (const char* name : {"plans.json", "dataset.json"})
    NNUC_CHECK(fs::is_regular_file(model / name), "no ", name, " in the model folder ", model_folder,
               " (nnuc train writes it)");
  CrossvalResult result;
  result.folder = output_folder.empty() ? (model / crossval_folder_name(folds)).string() : output_folder;
  const fs::path output(result.folder);
  const std::string summary_file = (output / "summary.json").string();
  if (!overwrite && fs::is_regular_file(summary_file)) {
    result.summary = data::read_summary(summary_file);
    result.foreground_dice = data::foreground_mean_dice(result.summary);
    result.reused = true;
    return result;
  }
  std::vector<std::string> validation_folders;
  for (const std::string& fold : folds) {
    const fs::path validation = model / ("fold_" + fold) / "validation";
    NNUC_CHECK(fs::is_directory(validation), "fold ", fold, " of ", model_folder, " is missing: no folder ",
               validation.string(), " (train it: nnuc train DATASET CONFIGURATION ", fold, ")");
    validation_folders.push_back(validation.string());
  }
  NNUC_CHECK(fs::is_directory(reference_folder), "the reference folder ", reference_folder, " does not exist");
  const data::DatasetJson dataset = data::load_dataset_json((model / "dataset.json").string());
  result.summary = data::accumulate_crossval(validation_folders, result.folder, reference_folder,
                                             data::labels_or_regions_from_dataset(dataset), dataset.ignore_label(),
                                             dataset.file_ending, threads);
  result.foreground_dice = data::foreground_mean_dice(result.summary);
  for (const char* name : {"plans.json", "dataset.json"})
    copy_file_atomic((model / name).string(), (output / name).string());
  // A previous postprocessing choice was made on the previous predictions (nnU-Net removes the folder).
  std::error_code ignored;
  for (const char* stale : {"postprocessing.json", "postprocessing.pkl"}) fs::remove(output / stale, ignored);
  fs::remove_all(output / "postprocessed", ignored);
  return result;
}

std::string inference_instructions(const nlohmann::ordered_json& information, const std::string& dataset_for_commands,
                                   const std::vector<std::string>& model_folders) {
  const nlohmann::ordered_json& best = information.at("best_model_or_ensemble");
  const nlohmann::ordered_json& selected = best.at("selected_model_or_models");
  const bool ensemble = selected.size() > 1;
  std::string folds;
  for (const auto& fold : information.at("folds")) folds += " " + fold.dump();
  std::string text = "***Run inference like this:***\n\n";
  if (ensemble)
    text +=
        "An ensemble won! What a surprise! Run the following commands to run predictions with the ensemble "
        "members:\n\n";
  std::vector<std::string> outputs;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const nlohmann::ordered_json& model = selected[i];
    const std::string output = ensemble ? "OUTPUT_FOLDER_MODEL_" + std::to_string(i + 1) : "OUTPUT_FOLDER";
    outputs.push_back(output);
    std::string command = "nnuc predict";
    if (!dataset_for_commands.empty())
      command += " -d " + shell_word(dataset_for_commands);
    else
      command += " -m " + shell_word(model_folders.at(i));
    command += " -i INPUT_FOLDER -o " + output + " -f" + folds;
    if (!dataset_for_commands.empty())
      command += " -tr " + shell_word(model.at("trainer").get<std::string>()) + " -c " +
                 shell_word(model.at("configuration").get<std::string>()) + " -p " +
                 shell_word(model.at("plans_identifier").get<std::string>());
    if (ensemble) command += " --save-probabilities";
    text += command + "\n";
  }
  if (ensemble) {
    text += "\nThen run ensembling with:\n\n";
    text += "nnuc ensemble -i " + join(outputs, " ") + " -o OUTPUT_FOLDER -np 8\n";
  }
  text += "\n***Once inference is completed, run postprocessing like this:***\n\n";
  text += "nnuc postprocess -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP -pp " +
          shell_word(best.at("postprocessing_file").get<std::string>()) + " -np 8\n";
  return text;
}

FindBestResult find_best_configuration(const FindBestOptions& options,
                                       const std::function<void(const std::string&)>& log) {
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  fs::path results = fs::absolute(options.results_dataset_folder).lexically_normal();
  if (results.filename().empty()) results = results.parent_path();  // "RESULTS/DatasetXXX_Name/"
  NNUC_CHECK(fs::is_directory(results), "no results dataset folder ", options.results_dataset_folder);
  const std::string dataset_name = results.filename().string();
  NNUC_CHECK(!options.models.empty(), "find_best_configuration: no candidate models");
  NNUC_CHECK(!options.folds.empty(), "find_best_configuration: no folds");
  for (const std::string& fold : options.folds)
    NNUC_CHECK(!fold.empty() && fold.size() < 6 && fold.find_first_not_of("0123456789") == std::string::npos, "fold '",
               fold, "': model selection uses cross-validation folds 0, 1, ... (not 'all')");
  NNUC_CHECK(fs::is_directory(options.reference_folder), "the reference folder '", options.reference_folder,
             "' does not exist (labelsTr of the raw dataset, or gt_segmentations of the preprocessed one)");

  FindBestResult result;
  std::map<std::string, std::optional<PlansConfigurations>> plans_cache;
  for (const TrainedModel& model : options.models) {
    if (plans_cache.count(model.plans) == 0) plans_cache[model.plans] = configurations_of_plans(model.plans, options);
    const std::optional<PlansConfigurations>& plans = plans_cache[model.plans];
    if (plans && plans->names.count(model.configuration) == 0) {
      say("Configuration " + model.configuration + " not found in plans " + model.plans + " (" + plans->file +
          "): skipped");
      continue;
    }
    const fs::path folder = results / model.identifier();
    if (!fs::is_directory(folder)) {
      NNUC_CHECK(!options.configurations_given, "trained model ", model.identifier(), " has no results folder ",
                 folder.string(), ": train all requested folds of it (with --npz to allow ensembling)");
      say("No results folder " + folder.string() + " for " + model.identifier() + ": skipped");
      continue;
    }
    result.considered.push_back(model);
  }
  NNUC_CHECK(
      !result.considered.empty(), "no trained model to select from in ", results.string(), " (candidates: ",
      [&] {
        std::vector<std::string> names;
        for (const TrainedModel& model : options.models) names.push_back(model.identifier());
        return join(names, ", ");
      }(),
      ")");

  for (const TrainedModel& model : result.considered) {
    const CrossvalResult crossval =
        accumulate_crossval_results((results / model.identifier()).string(), options.folds, options.reference_folder,
                                    "", options.threads, options.overwrite);
    result.entries.push_back({model.identifier(), crossval.folder, crossval.foreground_dice, {model}});
    say(model.identifier() + ": " + format_dice(crossval.foreground_dice));
  }

  const fs::path first_model = results / result.considered.front().identifier();
  const data::DatasetJson dataset = data::load_dataset_json((first_model / "dataset.json").string());
  const std::vector<data::LabelOrRegion> items = data::labels_or_regions_from_dataset(dataset);
  if (options.allow_ensembling) {
    EnsembleOptions ensemble_options;
    ensemble_options.threads = options.threads;
    ensemble_options.overwrite = options.overwrite;
    for (std::size_t i = 0; i < result.considered.size(); ++i) {
      for (std::size_t j = i + 1; j < result.considered.size(); ++j) {
        const TrainedModel& a = result.considered[i];
        const TrainedModel& b = result.considered[j];
        const std::string name = ensemble_name(a, b, options.folds);
        const fs::path folder = results / "ensembles" / name;
        ensemble_crossvalidations({(results / a.identifier()).string(), (results / b.identifier()).string()},
                                  options.folds, folder.string(), ensemble_options);
        const nlohmann::ordered_json summary =
            data::evaluate_folders(options.reference_folder, folder.string(), items, dataset.ignore_label(),
                                   dataset.file_ending, options.threads, true);
        data::write_summary((folder / "summary.json").string(), summary);
        result.entries.push_back({name, folder.string(), data::foreground_mean_dice(summary), {a, b}});
        say(name + ": " + format_dice(result.entries.back().foreground_dice));
      }
    }
  }

  // Best: the highest score, the first on ties; NaN only when every score is NaN.
  for (std::size_t i = 1; i < result.entries.size(); ++i) {
    const double score = result.entries[i].foreground_dice, best = result.entries[result.best].foreground_dice;
    if (!std::isnan(score) && (std::isnan(best) || score > best)) result.best = i;
  }
  const SelectionEntry& winner = result.entries[result.best];
  say("Best: " + winner.identifier + ": " + format_dice(winner.foreground_dice));

  const data::PostprocessingResult postprocessing = data::determine_postprocessing(
      winner.source, options.reference_folder, items, dataset.ignore_label(), dataset.file_ending, options.threads);
  for (const std::string& message : postprocessing.messages) say(message);
  result.post_postprocessing_dice = data::foreground_mean_dice(postprocessing.postprocessed_summary);
  result.postprocessing_file = (fs::path(winner.source) / "postprocessing.json").string();

  nlohmann::ordered_json considered = nlohmann::ordered_json::array();
  for (const TrainedModel& model : result.considered)
    considered.push_back({{"plans", model.plans}, {"configuration", model.configuration}, {"trainer", model.trainer}});
  nlohmann::ordered_json all_results = nlohmann::ordered_json::object();
  for (const SelectionEntry& entry : result.entries) all_results[entry.identifier] = entry.foreground_dice;
  nlohmann::ordered_json selected = nlohmann::ordered_json::array();
  std::vector<std::string> selected_folders;
  for (const TrainedModel& model : winner.members) {
    selected.push_back(
        {{"configuration", model.configuration}, {"trainer", model.trainer}, {"plans_identifier", model.plans}});
    selected_folders.push_back((results / model.identifier()).string());
  }
  result.information = {{"folds", fold_list(options.folds)},
                        {"dataset_name_or_id", dataset_name},
                        {"considered_models", considered},
                        {"ensembling_allowed", options.allow_ensembling},
                        {"all_results", all_results},
                        {"best_model_or_ensemble",
                         {{"postprocessing_file", result.postprocessing_file},
                          {"result_on_crossval_pre_pp", winner.foreground_dice},
                          {"result_on_crossval_post_pp", result.post_postprocessing_dice},
                          {"some_plans_file", (fs::path(winner.source) / "plans.json").string()},
                          {"selected_model_or_models", selected}}}};
  result.instructions = inference_instructions(result.information, options.dataset_for_commands, selected_folders);
  const std::string information_text = data::dump_python_json(result.information) + "\n";
  result.information_file = (results / "inference_information.json").string();
  result.instructions_file = (results / "inference_instructions.txt").string();
  data::write_file_atomic(result.information_file, information_text);
  data::write_file_atomic(result.instructions_file, result.instructions);
  return result;
}

}  // namespace nnuc::planner
